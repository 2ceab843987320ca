"""Each chat update is handled once, however often it arrives and whichever process gets it.

Telegram delivers at least once: a polling process that dies before confirming its last batch
gets it again after the restart, and a webhook update whose answer was lost (the process
behind the load balancer died) is sent again, maybe to another process. The front end claims
the update id here before handling it and marks it done after:

- a new id is handled;
- an id already done is a duplicate, dropped;
- an id another process is handling now is "busy": the caller waits and asks again, so a
  duplicate is dropped once the first handler is done, and an update whose handler died is
  taken over when its lease ends (``LEASE_S``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.services.base import Service

LEASE_S = 10  # a handler normally answers in well under a second
KEEP_S = 2 * 86_400  # Telegram keeps undelivered updates for 24 hours
PRUNE_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Claim:
    handle: bool  # this caller handles the update now
    duplicate: bool  # it was handled already
    retry_at: int = 0  # busy elsewhere: ask again at this time (the other's lease end)
    first: bool = False  # handled for the first time: no earlier handling left effects


class UpdateLedger(Service):
    """Raises only what the database raises."""

    _claims = 0

    async def claim(self, source: str, update_id: int) -> Claim:
        """Claim ``update_id`` of ``source`` (e.g. "telegram") for ``LEASE_S`` seconds."""
        return (await self.claim_many(source, [update_id]))[0]

    async def claim_many(
        self, source: str, update_ids: Sequence[int], done: Sequence[int] = ()
    ) -> list[Claim]:
        """Mark ``done`` ids handled and claim ``update_ids`` (a front end's group commit:
        updates that arrive together share one statement; ``claim`` and ``done`` are groups
        of one). One claim per id, in order; an id twice in the list is claimed once (the
        second copy is busy)."""
        now = self.clock.now()
        until = now + LEASE_S
        out: list[Claim] = []
        # every statement here is atomic by itself and none needs another to commit with it
        # (a done mark, a group of first claims, one take-over): on PostgreSQL they run
        # without BEGIN and COMMIT round trips (``one_statement``)
        async with self.uow(one_statement=True) as uow:
            ledger = uow.processed_updates
            # the done marks and the first claims (nearly all) in one statement; the rest
            # one by one
            ids = list(dict.fromkeys(update_ids))
            new = await ledger.claim_new(source, ids, now, until, list(dict.fromkeys(done)))
            seen: set[int] = set()
            for update_id in update_ids:
                if update_id in seen:  # a second copy in the list: the first one handles it
                    state, lease_end = "busy", until
                elif update_id in new:
                    state, lease_end = "new", until
                else:  # claimed before: taken over, done, or busy elsewhere
                    state, lease_end = await ledger.claim(source, update_id, now, until)
                seen.add(update_id)
                out.append(_claim_of(state, lease_end))
            self._claims += len(update_ids)
            if update_ids and self._claims % PRUNE_EVERY < len(update_ids):
                await uow.processed_updates.prune(now - KEEP_S)
            await uow.commit()
        return out

    async def done(self, source: str, update_id: int) -> None:
        """The update was handled (or failed in a way a second try would repeat)."""
        await self.claim_many(source, [], done=[update_id])


def _claim_of(state: str, lease_end: int) -> Claim:
    if state in ("new", "taken"):
        return Claim(handle=True, duplicate=False, first=state == "new")
    if state == "done":
        return Claim(handle=False, duplicate=True)
    return Claim(handle=False, duplicate=False, retry_at=lease_end)
