"""Recording what an escrow call just did, through a database that fails for a moment.

An escrow call cannot be undone, so its record must not be lost to a passing database error
(a pool that timed out, a locked SQLite file: both seen under overload). Without a retry the
rental stayed behind the chain until a watcher delivered the events again, and with no
watcher (the in-memory escrow) never: the deposit stayed locked in the escrow for a rental
the database called unpaid, and the keeper then cancelled it. Trying again is safe: events
apply once (transaction hash + log index). What still fails after some seconds waits in
memory for the keeper's next pass; a process that dies meanwhile leaves it to the chain watcher
(real chains), as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from core.errors import CoreError
from core.ports import ChainEvent, ChainReceipt

log = logging.getLogger(__name__)
RETRY_S = (0.2, 1.0, 3.0, 10.0)  # waits before each further try


class Mirror:
    """Records escrow receipts with ``apply`` (the lifecycle's ``chain_events``)."""

    def __init__(
        self,
        apply: Callable[[Sequence[ChainEvent]], Awaitable[int]],
        retry_s: Sequence[float] = RETRY_S,
    ) -> None:
        self.apply = apply
        self.retry_s = retry_s
        self.behind: list[ChainReceipt] = []  # given up on for now: the keeper tries again

    async def record(self, receipt: ChainReceipt) -> int:
        """Record ``receipt``'s events, tried again after each of ``retry_s`` while the
        database fails; returns how many were new. When every try failed the receipt waits
        in ``behind`` for the keeper (``catch_up``) and 0 is returned. Raises CoreError at
        once: the chain and the records disagree, and no retry mends that."""
        for wait_s in self.retry_s:
            try:
                return await self.apply(receipt.events)
            except CoreError:
                raise
            except Exception:
                log.warning("recording escrow events failed; again in %s s", wait_s, exc_info=True)
                await asyncio.sleep(wait_s)
        try:
            return await self.apply(receipt.events)
        except CoreError:
            raise
        except Exception:
            log.exception("recording escrow events failed; the keeper tries again")
            self.behind.append(receipt)
            return 0

    async def catch_up(self) -> int:
        """Record the receipts given up on, oldest first, until one fails again (the next
        keeper pass goes on from there); returns how many were recorded."""
        done = 0
        while self.behind:
            receipt = self.behind[0]
            try:
                await self.apply(receipt.events)
            except CoreError:
                log.exception("escrow events that disagree with the records were dropped")
            except Exception:
                log.warning("recording escrow events failed again", exc_info=True)
                return done
            else:
                done += 1
            self.behind.pop(0)
        return done
