"""One bad item never stops a loop that serves everybody (the keeper's rentals, the repairs).

Each item runs alone; an unexpected exception is logged with a reference (``item failed,
reference keeper-1a2b3c4d``: grep the log for it) and benches that item, so the next pass goes
on with the others and a poison item is not retried at the loop's pace: 30 s after its first
failure, doubling up to an hour. Expected refusals (a CoreError the item's own code handles)
never get here. The bench lives in memory: a restarted process tries each item once more.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from core.ports import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")


def reference(prefix: str) -> str:
    """A short id to log with a failure, unique enough to grep for."""
    return f"{prefix}-{secrets.token_hex(4)}"


class Quarantine:
    """Per-item failures and when each failed item may run again."""

    def __init__(self, clock: Clock, *, base_s: int = 30, cap_s: int = 3600) -> None:
        self.clock = clock
        self.base_s, self.cap_s = base_s, cap_s
        self._failures: dict[Hashable, tuple[int, int]] = {}  # key -> (failures, benched until)

    def benched(self, key: Hashable) -> bool:
        entry = self._failures.get(key)
        return entry is not None and self.clock.now() < entry[1]

    def failures(self, key: Hashable) -> int:
        return self._failures.get(key, (0, 0))[0]

    async def run(
        self, what: str, key: Hashable, call: Callable[[], Awaitable[T]], default: T
    ) -> T:
        """``await call()`` for one item unless it is benched (then ``default``); an exception
        is logged with a reference, benches the item and returns ``default``."""
        if self.benched(key):
            return default
        try:
            result = await call()
        except Exception:
            count = self.failures(key) + 1
            wait = min(self.cap_s, self.base_s * 2 ** min(count - 1, 20))
            self._failures[key] = (count, self.clock.now() + wait)
            ref = reference(what.split()[0])
            log.exception(
                "%s failed (%s time(s)), reference %s; the others go on, it is retried in %s s",
                what,
                count,
                ref,
                wait,
            )
            return default
        self._failures.pop(key, None)
        return result
