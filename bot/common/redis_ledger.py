"""The handled-once ledger in Redis (``REDIS_URL``), with the semantics of
``core.services.updates.UpdateLedger``: a claim is new, a duplicate of a handled update, or
busy while another process holds its lease.

Every service process behind one bot shares the Redis that already holds their FSM data and
rate limits, so the ledger leaves the database: per update the database wrote a claim and a
done mark (two write transactions, or shares of grouped ones); here a group of claims and done
marks is one pipelined round trip.

One key per update: ``SET key "c" NX PX lease`` claims it (an expired lease is gone, so the
next claim takes the update over, as the database ledger's conditional UPDATE does); the done
mark replaces it by "d" kept for ``KEEP_S`` (Telegram resends for 24 hours at most). A second
key, ``SET key:seen NX EX KEEP_S``, tells a first claim from one that takes over a lease that
ran out (``Claim.first``: only a take-over can find effects of an earlier handling). What Redis
forgets (a restart without persistence) is forgotten here too: a resent update would then be
handled again. Deployments that need the ledger to outlive Redis run it without REDIS_URL (the
database ledger) or with Redis persistence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.services.updates import KEEP_S, LEASE_S, Claim

CLAIMED, DONE = b"c", b"d"


class RedisUpdateLedger:
    """``claim_many`` as the database ledger offers it; raises what redis-py raises."""

    def __init__(self, redis: Any, now: Any, *, prefix: str = "rigshare:once") -> None:
        self.redis = redis
        self.now = now  # the clock's now(): retry_at is in its seconds
        self.prefix = prefix

    def _key(self, source: str, update_id: int) -> str:
        return f"{self.prefix}:{source}:{update_id}"

    async def claim_many(
        self, source: str, update_ids: list[int], done: Sequence[int] = ()
    ) -> list[Claim]:
        """Mark ``done`` ids handled and claim ``update_ids`` in one round trip; one claim per
        id, in order (an id twice in the list: the second copy is busy)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for update_id in done:
                pipe.set(self._key(source, update_id), DONE, ex=KEEP_S)
            for update_id in update_ids:
                key = self._key(source, update_id)
                pipe.set(f"{key}:seen", 1, nx=True, ex=KEEP_S)
                pipe.set(key, CLAIMED, nx=True, px=LEASE_S * 1000)
                pipe.get(key)
                pipe.pttl(key)
            answers = await pipe.execute()
        answers = answers[len(done) :]
        now = self.now()
        out: list[Claim] = []
        for i in range(len(update_ids)):
            unseen, took, value, pttl = answers[4 * i : 4 * i + 4]
            if took:
                out.append(Claim(handle=True, duplicate=False, first=bool(unseen)))
            elif value == DONE:
                out.append(Claim(handle=False, duplicate=True))
            else:  # held by another claimer (or its lease ran out just now: ask again soon)
                wait_s = max(0, int(pttl or 0)) // 1000
                out.append(Claim(handle=False, duplicate=False, retry_at=now + wait_s))
        return out
