"""What the wallet sends the dapp: proposal answers, settle, requests' answers, ping, delete,
update, extend and events. Part of :class:`contracts.walletconnect.client.SignClient`.

A message is opened with the key of the topic it came on; a type-1 envelope must carry the peer
key we know for that topic. Anything that does not open, is not JSON-RPC, or answers nothing we
asked is dropped with a log line and changes nothing. Wallet requests we refuse get a JSON-RPC
error with the WalletConnect code.
"""

from __future__ import annotations

import logging
from typing import Any

from contracts.walletconnect import protocol as p
from contracts.walletconnect.crypto import (
    TYPE_1,
    CryptoError,
    decrypt,
    derive_sym_key,
    key_from_hex,
    parse_envelope,
    topic_of,
)
from contracts.walletconnect.relay import RelayError
from contracts.walletconnect.session import (
    Link,
    PeerError,
    account_in,
    changed_account,
    extended_expiry,
    settle,
)
from core.safe_json import parse_json

log = logging.getLogger(__name__)


class Inbound:
    """Mixin: the handlers of incoming messages. Needs SignClient's state and helpers."""

    async def _work(self) -> None:
        while True:
            msg = await self._queue.get()
            user_id = self.by_topic.get(msg.topic)
            if user_id is None:
                log.info("dropped a WalletConnect message for an unknown topic")
                self._queue.task_done()
                continue
            after: list = []
            try:
                async with self._lock(user_id):
                    await self._handle(user_id, msg, after)
            except Exception:
                log.exception("WalletConnect message handling failed")
            await self._run(after)
            self._queue.task_done()

    def _key_for(self, link: Link, topic: str) -> tuple[bytes, bytes | None]:
        if link.session is not None:
            return link.session.sym_key, link.session.peer_public
        if topic == link.pairing.topic:
            return link.pairing.sym_key, None
        return link.pairing.session_key, link.pairing.responder_key

    async def _handle(self, user_id: int, msg: Any, after: list) -> None:
        link = self.links.get(user_id)
        if link is None or msg.topic not in link.topics():
            log.info("dropped a WalletConnect message for a topic that is gone")
            return
        key, peer = self._key_for(link, msg.topic)
        try:
            envelope = parse_envelope(msg.message)
            if envelope.type == TYPE_1 and (peer is None or envelope.sender_public != peer):
                raise CryptoError("type-1 envelope from an unknown sender key")
            message = p.parse_message(parse_json(decrypt(key, envelope)))
        except (CryptoError, p.ProtocolError, ValueError) as exc:
            log.warning("dropped a WalletConnect message on %s…: %s", msg.topic[:8], exc)
            return
        if isinstance(message, p.Response):
            await self._on_response(link, msg.topic, message, after)
        elif link.session is not None:
            await self._on_session_request(link, key, message, after)
        elif msg.topic == link.pairing.topic:
            await self._on_pairing_request(link, key, message, after)
        elif message.method == "wc_sessionSettle":
            await self._settle(link, key, message, after)
        elif message.method == "wc_sessionPing":
            await self._respond(msg.topic, key, message)
        else:
            await self._respond(
                msg.topic, key, message, error=(p.NO_SESSION_FOR_TOPIC, "no settled session yet")
            )

    # -- pairing topic --------------------------------------------------------------------------
    async def _on_pairing_request(self, link: Link, key: bytes, req: p.Request, after) -> None:
        topic = link.pairing.topic
        if req.method == "wc_pairingPing":
            await self._respond(topic, key, req)
        elif req.method == "wc_pairingDelete":
            await self._respond(topic, key, req)
            await self._retire(link, after, None, p.REASON_REJECTED)
            await self.store.delete(link.user_id)
        else:
            await self._respond(topic, key, req, error=(p.INVALID_METHOD, "unsupported method"))

    async def _on_proposal_answer(self, link: Link, res: p.Response, after: list) -> None:
        pairing = link.pairing
        if res.error is not None:
            log.info("the wallet rejected the session proposal: %s", res.error)
            await self._retire(link, after, None, p.reason_for(res.error))
            await self.store.delete(link.user_id)
            return
        if pairing.responder_key is not None:
            return  # a repeated answer
        try:
            responder = res.result.get("responderPublicKey") if isinstance(res.result, dict) else ""
            peer = key_from_hex(responder, "responderPublicKey")
            session_key = derive_sym_key(pairing.private_key, peer)
        except CryptoError as exc:
            log.warning("dropped a proposal answer with an unusable key: %s", exc)
            return
        pairing.responder_key, pairing.session_key = peer, session_key
        pairing.session_topic = topic_of(session_key)
        self.by_topic[pairing.session_topic] = link.user_id
        await self.store.save(link)
        await self.relay.subscribe([pairing.session_topic])

    async def _settle(self, link: Link, key: bytes, req: p.Request, after: list) -> None:
        pairing, now = link.pairing, self.clock.now()
        try:
            session = settle(pairing, req.params, now)
        except PeerError as exc:
            log.warning("refused a session settle: %s", exc)
            await self._respond(pairing.session_topic, key, req, error=(exc.code, str(exc)))
            delete = p.request(
                p.payload_id(),
                "wc_sessionDelete",
                {"code": p.SESSION_SETTLEMENT_FAILED, "message": str(exc)},
            )
            try:
                await self._publish(pairing.session_topic, key, delete, delete["method"])
            except RelayError as err:
                log.warning("wc_sessionDelete not published: %s", err)
            await self._retire(link, after, None, f"the wallet session was refused: {exc}")
            await self.store.delete(link.user_id)
            return
        await self._respond(session.topic, key, req)
        self._unindex(link)
        link.pairing, link.session = None, session
        connect, link.connect_request_id = link.connect_request_id, None
        self._index(link)
        await self.store.save(link)
        await self.relay.unsubscribe([pairing.topic])
        log.info("WalletConnect session settled with %s (user %s)", session.peer_name, link.user_id)
        after.append(lambda: self.events.connected(link.user_id, connect, session.address))
        for out in [r for r in link.requests if r.wc_id is None]:
            if out.expires_at <= now:
                link.requests.remove(out)
                after.append(lambda rid=out.request_id: self.events.failed(rid, p.REASON_TIMEOUT))
                continue
            try:
                await self._send(link, out)
            except Exception as exc:
                log.warning("a queued request could not be sent: %s", exc)
                after.append(lambda rid=out.request_id: self.events.failed(rid, p.REASON_REFUSED))
        await self.store.save(link)

    # -- session topic --------------------------------------------------------------------------
    async def _on_session_request(self, link: Link, key: bytes, req: p.Request, after) -> None:
        s, method = link.session, req.method
        if method in ("wc_sessionPing", "wc_sessionSettle"):
            await self._respond(s.topic, key, req)  # a repeated settle is acknowledged again
        elif method == "wc_sessionDelete":
            await self._respond(s.topic, key, req)
            await self._retire(link, after, None, p.REASON_ENDED)
            await self.store.delete(link.user_id)
            after.append(lambda: self.events.disconnected(link.user_id, "the wallet disconnected"))
        elif method in ("wc_sessionEvent", "wc_sessionUpdate", "wc_sessionExtend"):
            try:
                address = await self._apply(link, req)
            except PeerError as exc:
                await self._respond(s.topic, key, req, error=(exc.code, str(exc)))
                return
            await self._respond(s.topic, key, req)
            if address is not None:
                after.append(lambda: self.events.connected(link.user_id, None, address))
        else:
            await self._respond(s.topic, key, req, error=(p.INVALID_METHOD, "unsupported method"))

    async def _apply(self, link: Link, req: p.Request) -> str | None:
        """Apply an event, update or extension; the new address when the account changed."""
        s, now, address = link.session, self.clock.now(), None
        if req.method == "wc_sessionExtend":
            s.expiry = extended_expiry(s, req.params, now)
        elif req.method == "wc_sessionUpdate":
            namespaces = req.params.get("namespaces") if isinstance(req.params, dict) else None
            try:
                address, s.methods = account_in(namespaces, s.chain_id)
            except PeerError as exc:
                raise PeerError(p.INVALID_UPDATE, str(exc)) from exc
        else:
            address = changed_account(s, req.params)
        if address is not None and address == s.address:
            address = None
        elif address is not None:
            s.address = address
        await self.store.save(link)
        return address

    async def _on_response(self, link: Link, topic: str, res: p.Response, after: list) -> None:
        if link.pairing is not None and topic == link.pairing.topic:
            if res.id == link.pairing.proposal_id:
                await self._on_proposal_answer(link, res, after)
            else:
                log.info("dropped an answer to nothing we asked on a pairing topic")
            return
        ping = self._pings.get(res.id)
        if ping is not None and not ping.done():
            ping.set_result(res.error is None)
            return
        extended_to = self._extends.pop(res.id, None)
        if extended_to is not None:
            if res.error is None and link.session is not None:
                link.session.expiry = max(link.session.expiry, extended_to)
                await self.store.save(link)
            else:
                log.info("the wallet did not extend the session: %s", res.error)
            return
        out = link.request_by_wc_id(res.id)
        if out is None:
            log.info("dropped an answer to a request we are not waiting for")
            return
        link.requests.remove(out)
        await self.store.save(link)
        if res.error is not None:
            reason = p.reason_for(res.error)
            after.append(lambda: self.events.failed(out.request_id, reason))
        else:
            after.append(lambda: self.events.answered(out, res.result))
