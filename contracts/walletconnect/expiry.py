"""Expiry of what waits on a wallet: requests at their ``expires_at``, pairings nobody
approved, sessions past their expiry. Part of :class:`contracts.walletconnect.client.SignClient`
(the wallet adapter calls ``sweep`` about every second).
"""

from __future__ import annotations

from contracts.walletconnect import protocol as p
from contracts.walletconnect.session import Link

EXPIRED = "Session expired."


class Expiry:
    """Mixin: needs SignClient's links, locks, store, events and ``_retire``."""

    async def sweep(self) -> None:
        """Expire requests, pairings and sessions whose time has come."""
        now = self.clock.now()
        for user_id, link in list(self.links.items()):
            if not _due(link, now):
                continue
            after: list = []
            async with self._lock(user_id):
                if self.links.get(user_id) is link:
                    await self._expire(link, now, after)
            await self._run(after)

    async def _expire(self, link: Link, now: int, after: list) -> None:
        if link.session is not None and link.session.expiry <= now:
            # the wallet is told too: a wallet that counts a longer life (its clock, an
            # extension it believes in) would otherwise keep a session nobody answers any more.
            # Only while connected: the sweep must not wait for a relay that is away.
            online = self.relay is not None and self.relay.connected.is_set()
            code = p.USER_DISCONNECTED if online else None
            await self._retire(link, after, code, p.REASON_ENDED, EXPIRED)
            await self.store.delete(link.user_id)
            after.append(lambda: self.events.disconnected(link.user_id, "the session expired"))
            return
        if link.pairing is not None and link.pairing.expiry <= now:
            await self._retire(link, after, None, p.REASON_TIMEOUT)
            await self.store.delete(link.user_id)
            return
        due = [r for r in link.requests if r.expires_at <= now]
        link.requests = [r for r in link.requests if r.expires_at > now]
        await self.store.save(link)
        for r in due:
            after.append(lambda rid=r.request_id: self.events.failed(rid, p.REASON_TIMEOUT))


def _due(link: Link, now: int) -> bool:
    if link.session is not None and link.session.expiry <= now:
        return True
    if link.pairing is not None and link.pairing.expiry <= now:
        return True
    return any(r.expires_at <= now for r in link.requests)
