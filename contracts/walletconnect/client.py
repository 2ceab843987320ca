"""The WalletConnect v2 Sign engine on the dapp side: one link (pairing or session) per user.

Outgoing: ``pair`` proposes a session (wc_sessionPropose on a fresh pairing topic), ``request``
sends wc_sessionRequest over a live session or queues it until the pairing settles,
``disconnect`` deletes the session, ``ping`` checks the wallet, ``sweep`` expires requests,
pairings and sessions. Incoming messages are handled in :mod:`.inbound`. State changes are
saved through the store before the wallet can answer, so answers match after a restart. Events
for the core are collected while a user's lock is held and delivered after it is released (the
core may call back into the wallet from an event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from contracts.walletconnect import protocol as p
from contracts.walletconnect.crypto import KeyPair, random_key, seal_json, topic_of
from contracts.walletconnect.expiry import Expiry
from contracts.walletconnect.inbound import Inbound
from contracts.walletconnect.relay import RelayClient, RelayError, RelayUnavailable
from contracts.walletconnect.session import (
    EVENTS,
    MAX_SESSION,
    PROPOSED_METHODS,
    Link,
    Outgoing,
    Pairing,
    request_params,
)
from contracts.walletconnect.store import LinkStore

log = logging.getLogger(__name__)
MAX_PAIRING = 86_400  # a pairing waits at most a day, however long its request may wait
MAX_REQUEST_TTL = 7 * 86_400
EXTEND_WHEN_LEFT_S = 2 * 86_400  # a session used with less than this left is extended
After = list[Callable[[], Awaitable[None]]]


class ClientEvents(Protocol):
    async def connected(self, user_id: int, request_id: str | None, address: str) -> None: ...
    async def disconnected(self, user_id: int, reason: str) -> None: ...
    async def answered(self, request: Outgoing, result: Any) -> None: ...
    async def failed(self, request_id: str, reason: str) -> None: ...


class SignClient(Inbound, Expiry):
    """Raises RelayError (not reachable, refused) and ValueError (a request it cannot build)."""

    def __init__(
        self,
        store: LinkStore,
        clock: Any,
        events: ClientEvents,
        *,
        metadata: dict[str, Any],
        workers: int = 4,
    ) -> None:
        self.store = store
        self.clock = clock
        self.events = events
        self.metadata = metadata
        self.relay: RelayClient | None = None
        self.links: dict[int, Link] = {}
        self.by_topic: dict[str, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._pings: dict[int, asyncio.Future] = {}
        self._extends: dict[int, int] = {}  # wc_sessionExtend id -> the expiry it asked for
        self._queue: asyncio.Queue = asyncio.Queue()
        self._workers: list[asyncio.Task] = []
        self._worker_count = workers

    # -- set-up ---------------------------------------------------------------------------------
    def restore(self, links: list[Link]) -> list[str]:
        """Take over stored links; returns the topics to subscribe."""
        for link in links:
            self._index(link)
        return list(self.by_topic)

    def start(self, relay: RelayClient) -> None:
        self.relay = relay
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"walletconnect-worker-{i}")
                for i in range(self._worker_count)
            ]

    async def stop(self) -> None:
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def feed(self, message: Any) -> None:
        """The relay's callback: queue a push for the workers (never handled in the reader)."""
        self._queue.put_nowait(message)

    def _lock(self, user_id: int) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    def _index(self, link: Link) -> None:
        self.links[link.user_id] = link
        for topic in link.topics():
            self.by_topic[topic] = link.user_id

    def _unindex(self, link: Link) -> None:
        if self.links.get(link.user_id) is link:
            del self.links[link.user_id]
        for topic in link.topics():
            if self.by_topic.get(topic) == link.user_id:
                del self.by_topic[topic]

    @staticmethod
    async def _run(after: After) -> None:
        for effect in after:
            try:
                await effect()
            except Exception:
                log.exception("a WalletConnect event handler failed")

    def _ensure_online(self) -> None:
        if self.relay is None or not self.relay.connected.is_set():
            raise RelayUnavailable("not connected to the WalletConnect relay")

    # -- publishing -----------------------------------------------------------------------------
    async def _publish(
        self, topic: str, key: bytes, payload: dict, method: str, *, ttl: int | None = None
    ) -> None:
        spec = p.spec(method)
        response = "method" not in payload
        await self.relay.publish(
            topic,
            seal_json(key, payload),
            tag=spec.res_tag if response else spec.req_tag,
            ttl=ttl or spec.ttl,
            prompt=spec.prompt and not response,
        )

    async def _respond(
        self, topic: str, key: bytes, req: p.Request, result: Any = True, error: Any = None
    ) -> None:
        body = p.error(req.id, error[0], error[1]) if error else p.result(req.id, result)
        try:
            await self._publish(topic, key, body, req.method)
        except RelayError as exc:
            log.warning("answer to %s not published: %s", req.method, exc)

    # -- pairing --------------------------------------------------------------------------------
    async def pair(self, user_id: int, chain_id: int, expires_at: int, request_id: str) -> str:
        """A new pairing for ``connect`` (replacing the user's link); returns the URI."""
        self._ensure_online()
        after: After = []
        async with self._lock(user_id):
            link = await self._new_pairing(user_id, chain_id, expires_at, [], request_id, after)
        await self._run(after)
        return str(link.pairing.uri)

    async def _new_pairing(
        self,
        user_id: int,
        chain_id: int,
        expires_at: int,
        requests: list[Outgoing],
        connect: str | None,
        after: After,
    ) -> Link:
        now = self.clock.now()
        old = self.links.get(user_id)
        carried: list[Outgoing] = []
        if old is not None:  # queued requests move to the new pairing; sent ones end with it
            carried = [r for r in old.requests if r.wc_id is None]
            old.requests = [r for r in old.requests if r.wc_id is not None]
            await self._retire(old, after, p.USER_DISCONNECTED)
        sym, keys = random_key(), KeyPair.generate()
        expiry = min(max(expires_at, now + 60), now + MAX_PAIRING)
        pairing = Pairing(topic_of(sym), sym, keys.private, p.payload_id(), expiry, chain_id)
        link = Link(user_id, pairing, None, carried + requests, connect, now)
        self._index(link)
        ns = {"chains": [f"eip155:{chain_id}"], "methods": PROPOSED_METHODS, "events": EVENTS}
        params = {
            "id": pairing.proposal_id,
            # requiredNamespaces is deprecated: current SDKs send it empty (wallets on them refuse
            # an approval that does not cover every required method) and older wallets and
            # pyWalletConnect still read the key, so it stays, empty, as sign-client 2.25 sends it
            "requiredNamespaces": {},
            "optionalNamespaces": {"eip155": ns},
            "relays": [{"protocol": "irn"}],
            "proposer": {"publicKey": keys.public.hex(), "metadata": self.metadata},
            "expiryTimestamp": expiry,
            "pairingTopic": pairing.topic,
        }
        try:
            await self.store.save(link)
            await self.relay.subscribe([pairing.topic])
            propose = p.request(pairing.proposal_id, "wc_sessionPropose", params)
            ttl = max(p.spec("wc_sessionPropose").ttl, expiry - now)
            await self._publish(pairing.topic, sym, propose, propose["method"], ttl=ttl)
        except Exception:
            self._unindex(link)
            await self.relay.unsubscribe([pairing.topic])
            await self.store.delete(user_id)
            raise
        return link

    async def _retire(
        self, link: Link, after: After, code: int | None, reason: str = "", message: str = ""
    ) -> None:
        """Forget ``link``: tell the wallet (``code`` set; ``message``, else a text of the code),
        fail what waited on it."""
        self._unindex(link)
        if link.session is not None and code is not None:
            message = message or ("User disconnected." if code == p.USER_DISCONNECTED else reason)
            delete = p.request(
                p.payload_id(), "wc_sessionDelete", {"code": code, "message": message}
            )
            try:
                await self._publish(
                    link.session.topic, link.session.sym_key, delete, "wc_sessionDelete"
                )
            except RelayError as exc:
                log.warning("wc_sessionDelete not published: %s", exc)
        await self.relay.unsubscribe(link.topics())
        reason = reason or p.REASON_ENDED
        failed = [r.request_id for r in link.requests]
        failed += [link.connect_request_id] if link.connect_request_id else []
        for request_id in failed:
            after.append(lambda rid=request_id: self.events.failed(rid, reason))

    # -- requests -------------------------------------------------------------------------------
    async def request(self, user_id: int, chain_id: int, out: Outgoing) -> str | None:
        """Send ``out`` over the user's live session (returns None) or queue it on a pairing
        (returns its URI; a new pairing when there is none). Raises RelayError, ValueError."""
        request_params(out.method, out.payload, "0x" + "00" * 20)  # ValueError before anything
        self._ensure_online()
        after: After = []
        async with self._lock(user_id):
            now = self.clock.now()
            link = self.links.get(user_id)
            s = link.session if link is not None else None
            if s is not None and s.expiry > now and s.chain_id == chain_id:
                link.requests.append(out)
                await self._send(link, out)
                uri = None
                if s.expiry - now < EXTEND_WHEN_LEFT_S:
                    await self._extend(link, now)
            elif link is not None and link.pairing is not None and link.pairing.expiry > now:
                link.requests.append(out)
                await self.store.save(link)
                uri = str(link.pairing.uri)
            else:
                link = await self._new_pairing(
                    user_id, chain_id, out.expires_at, [out], None, after
                )
                uri = str(link.pairing.uri)
        await self._run(after)
        return uri

    async def _send(self, link: Link, out: Outgoing) -> None:
        """Publish a queued request (its id is saved first). On failure it is dropped again."""
        s, now = link.session, self.clock.now()
        taken = {r.wc_id for r in link.requests}
        out.wc_id = p.payload_id()
        while out.wc_id in taken:
            out.wc_id += 1
        expiry = min(max(out.expires_at, now + 300), now + MAX_REQUEST_TTL)
        request = {
            "method": out.method,
            "params": request_params(out.method, out.payload, s.address),
            "expiryTimestamp": expiry,
        }
        body = p.request(
            out.wc_id, "wc_sessionRequest", {"request": request, "chainId": f"eip155:{s.chain_id}"}
        )
        try:
            await self.store.save(link)
            await self._publish(s.topic, s.sym_key, body, body["method"], ttl=expiry - now)
        except Exception:
            link.requests.remove(out)
            await self.store.save(link)
            raise

    async def _extend(self, link: Link, now: int) -> None:
        """Ask the wallet to keep a session in use for 7 more days. Neither side extends by
        itself otherwise (the JS SDK does not), and a user would have to pair again a week
        after pairing, however active. The explicit expiry suits wallets of every SDK version
        (those since 2.17 set now + 7 days themselves). Ours moves when the wallet says yes."""
        s = link.session
        wc_id = p.payload_id()
        self._extends[wc_id] = now + MAX_SESSION
        body = p.request(wc_id, "wc_sessionExtend", {"expiry": now + MAX_SESSION})
        try:
            await self._publish(s.topic, s.sym_key, body, body["method"])
        except RelayError as exc:
            self._extends.pop(wc_id, None)
            log.info("extending the session of user %s failed: %s", link.user_id, exc)

    async def disconnect(self, user_id: int) -> bool:
        """Delete the user's session (or drop the pairing); False when there was none."""
        after: After = []
        async with self._lock(user_id):
            link = self.links.get(user_id)
            if link is None:
                return False
            await self._retire(link, after, p.USER_DISCONNECTED)
            await self.store.delete(user_id)
        await self._run(after)
        return True

    async def ping(self, user_id: int, wait: float = 10.0) -> bool:
        """wc_sessionPing: True when the wallet answered in time."""
        link = self.links.get(user_id)
        if link is None or link.session is None:
            return False
        wc_id = p.payload_id()
        fut = asyncio.get_running_loop().create_future()
        self._pings[wc_id] = fut
        try:
            body = p.request(wc_id, "wc_sessionPing", {})
            await self._publish(link.session.topic, link.session.sym_key, body, body["method"])
            return bool(await asyncio.wait_for(fut, wait))
        except (RelayError, TimeoutError):
            return False
        finally:
            self._pings.pop(wc_id, None)
