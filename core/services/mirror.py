"""Recording what an escrow call just did, through a database that fails for a moment.

An escrow call cannot be undone, so its record must not be lost to a passing database error
(a pool that timed out, a locked SQLite file: both seen under overload). Without a retry the
rental stayed behind the chain until a watcher delivered the events again, and with no
watcher (the in-memory escrow) never: the deposit stayed locked in the escrow for a rental
the database called unpaid, and the keeper then cancelled it. Trying again is safe: events
apply once (transaction hash + log index). What still fails after some seconds waits in
memory for the keeper's next pass; a process that dies meanwhile leaves it to the chain watcher
(real chains), as before.

The message bus (``core.services.messagebus``) holds one ``Mirror`` and hands it each batch of
an escrow receipt's events (the service's own calls and the follow-ups' calls alike) with the
one transaction that records them; the keeper asks the bus to catch up first on every pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from core.errors import CoreError
from core.ports import ChainEvent

log = logging.getLogger(__name__)
RETRY_S = (0.2, 1.0, 3.0, 10.0)  # waits before each further try
T = TypeVar("T")
Events = tuple[ChainEvent, ...]


class Mirror:
    """The retry policy for escrow receipts and the receipts given up on for now."""

    def __init__(self, retry_s: Sequence[float] = RETRY_S) -> None:
        self.retry_s = retry_s
        self.behind: list[Events] = []  # given up on for now: the keeper tries again

    async def record(
        self, events: Sequence[ChainEvent], write: Callable[[Sequence[ChainEvent]], Awaitable[T]]
    ) -> T | None:
        """``write(events)``, tried again after each of ``retry_s`` while the database fails.
        When every try failed the events wait in ``behind`` for the keeper (``catch_up``) and
        None is returned. Raises CoreError at once: the chain and the records disagree, and
        no retry mends that."""
        for wait_s in self.retry_s:
            try:
                return await write(events)
            except CoreError:
                raise
            except Exception:
                log.warning("recording escrow events failed; again in %s s", wait_s, exc_info=True)
                await asyncio.sleep(wait_s)
        try:
            return await write(events)
        except CoreError:
            raise
        except Exception:
            log.exception("recording escrow events failed; the keeper tries again")
            self.behind.append(tuple(events))
            return None

    async def catch_up(self, apply: Callable[[Sequence[ChainEvent]], Awaitable[object]]) -> int:
        """``apply`` the events given up on, oldest first, until one fails again (the next
        keeper pass goes on from there); returns how many batches were recorded."""
        done = 0
        while self.behind:
            events = self.behind[0]
            try:
                await apply(events)
            except CoreError:
                log.exception("escrow events that disagree with the records were dropped")
            except Exception:
                log.warning("recording escrow events failed again", exc_info=True)
                return done
            else:
                done += 1
            self.behind.pop(0)
        return done
