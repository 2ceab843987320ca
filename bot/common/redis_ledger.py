"""The handled-once ledger in Redis (``REDIS_URL``), with the semantics of
``core.services.updates.UpdateLedger``: a claim is new, a duplicate of a handled update, or
busy while another process holds its lease.

Every service process behind one bot shares the Redis that already holds their FSM data and
rate limits, so the ledger leaves the database: per update the database wrote a claim and a
done mark (two write transactions, or shares of grouped ones); here a group of claims and done
marks is one round trip: one call of a script that Redis runs by itself (``CLAIM_SCRIPT``),
so the process builds and parses one command per group rather than five per update.

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

# What the script answers for each claimed id: a first claim, a take-over of a lease that ran
# out, a handled update; anything below BUSY is busy, -(its lease's milliseconds left) - 1.
FIRST, TAKEN, HANDLED, BUSY = 1, 2, 0, -1

# KEYS: the done keys, then each claimed id's key and its ``:seen`` key in turn.
# ARGV: the number of done keys, the lease (ms), how long marks are kept (s).
CLAIM_SCRIPT = """
local done = tonumber(ARGV[1])
for i = 1, done do
  redis.call('SET', KEYS[i], 'd', 'EX', ARGV[3])
end
local out = {}
for i = done + 1, #KEYS, 2 do
  local key, seen = KEYS[i], KEYS[i + 1]
  local unseen = redis.call('SET', seen, 1, 'NX', 'EX', ARGV[3])
  if redis.call('SET', key, 'c', 'NX', 'PX', ARGV[2]) then
    out[#out + 1] = unseen and 1 or 2
  elseif redis.call('GET', key) == 'd' then
    out[#out + 1] = 0
  else
    out[#out + 1] = -math.max(0, redis.call('PTTL', key)) - 1
  end
end
return out
"""


class RedisUpdateLedger:
    """``claim_many`` as the database ledger offers it; raises what redis-py raises."""

    def __init__(self, redis: Any, now: Any, *, prefix: str = "rigshare:once") -> None:
        self.redis = redis
        self.now = now  # the clock's now(): retry_at is in its seconds
        self.prefix = prefix
        self._script = redis.register_script(CLAIM_SCRIPT)  # EVALSHA, loaded on first use

    def _key(self, source: str, update_id: int) -> str:
        return f"{self.prefix}:{source}:{update_id}"

    async def claim_many(
        self, source: str, update_ids: list[int], done: Sequence[int] = ()
    ) -> list[Claim]:
        """Mark ``done`` ids handled and claim ``update_ids`` in one round trip; one claim per
        id, in order (an id twice in the list: the second copy is busy)."""
        keys = [self._key(source, update_id) for update_id in done]
        for update_id in update_ids:
            key = self._key(source, update_id)
            keys += (key, f"{key}:seen")
        answers = await self._script(keys=keys, args=[len(done), LEASE_S * 1000, KEEP_S])
        now = self.now()
        out: list[Claim] = []
        for answer in answers:
            if answer in (FIRST, TAKEN):
                out.append(Claim(handle=True, duplicate=False, first=answer == FIRST))
            elif answer == HANDLED:
                out.append(Claim(handle=False, duplicate=True))
            else:  # held by another claimer (or its lease ran out just now: ask again soon)
                wait_s = (BUSY - int(answer)) // 1000
                out.append(Claim(handle=False, duplicate=False, retry_at=now + wait_s))
        return out
