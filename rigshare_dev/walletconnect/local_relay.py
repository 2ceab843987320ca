"""A small WalletConnect relay on loopback, for tests, benchmarks and ``rigshare demo``.

Wallet SDKs only talk to WalletConnect's own relay (a pairing URI carries no relay URL), so this
relay is never for production. It implements what both our client and pyWalletConnect use
(relay-server-rpc.md): publish with a TTL, subscribe (answer first, then replay the mailbox),
unsubscribe, batch variants and fetch; pushes as ``irn_subscription`` that the client acks. The
two Sign 2.5 calls of current SDKs (sign-client 2.21.6+, WalletKit) are implemented as the real
relay does them: ``wc_proposeSession`` (the dapp: subscribe the pairing topic, publish the
proposal there) and ``wc_approveSession`` (the wallet: subscribe the session topic, publish the
proposal's answer on the pairing topic and the settle request on the session topic); the SDK
skips its own subscribe calls for those topics and counts on the relay.
Messages are kept per topic until their TTL ends and delivered to every client (``did:key`` from
the JWT) that did not publish them and has not acknowledged them yet. Text and binary frames
are accepted. Tests inject faults: :meth:`drop` closes connections, ``lose_pushes`` swallows
pushes, ``project_id`` makes the handshake refuse other projects with HTTP 401.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import logging
import ssl as ssl_module
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from contracts.walletconnect.crypto import is_topic
from contracts.walletconnect.relay_auth import RelayAuthError, verify_jwt
from core.safe_json import parse_json

log = logging.getLogger(__name__)
MAX_TTL = 30 * 86_400


@dataclass(eq=False)
class Stored:
    topic: str
    message: str
    tag: int
    published_at: int  # ms
    expires_at: float
    sender: str  # client id
    key: bytes = b""

    def data(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "message": self.message,
            "publishedAt": self.published_at,
            "tag": self.tag,
            "attestation": None,
        }


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    client: str
    pushed: set[bytes] = field(default_factory=set)
    inflight: dict[int, bytes] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


class LocalRelay:
    def __init__(
        self,
        *,
        project_id: str | None = None,
        check_jwt: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.project_id = project_id
        self.check_jwt = check_jwt
        self.ssl = ssl
        self.now = now
        self.port = 0
        self.mailbox: dict[str, list[Stored]] = {}
        self.subs: dict[str, dict[_Conn, str]] = {}
        self.acked: dict[str, set[bytes]] = {}  # client id -> messages it acknowledged/fetched
        self.published: list[Stored] = []  # every publish, for tests (tags, order)
        self.methods: list[str] = []  # every method called, for tests
        self.conns: set[_Conn] = set()
        self.handshakes: list[dict[str, str]] = []
        self.lose_pushes = 0  # fault injection: swallow the next n pushes
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> LocalRelay:
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drop(self, client: str | None = None) -> int:
        """Close the connections of ``client`` (all when None); returns how many."""
        victims = [c for c in list(self.conns) if client is None or c.client == client]
        for conn in victims:
            await conn.ws.close()
        return len(victims)

    # -- connections --------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.handshakes.append(query)
        if self.project_id is not None and query.get("projectId") != self.project_id:
            return web.Response(status=401, text="unknown projectId")
        token = query.get("auth") or request.headers.get("Authorization", "").removeprefix(
            "Bearer "
        )
        client = f"anonymous-{next(self._ids)}"
        if self.check_jwt:
            try:
                client = verify_jwt(token, now=int(self.now()))["iss"]
            except RelayAuthError as exc:
                return web.Response(status=401, text=f"bad auth: {exc}")
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        conn = _Conn(ws, client)
        self.conns.add(conn)
        try:
            async for frame in ws:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                await self._frame(conn, frame.data)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("relay connection ended: %s", exc)
        finally:
            self.conns.discard(conn)
            for subs in self.subs.values():
                subs.pop(conn, None)
        return ws

    async def _send(self, conn: _Conn, obj: dict[str, Any]) -> None:
        if not conn.ws.closed:
            try:
                await conn.ws.send_str(json.dumps(obj))
            except (ConnectionError, RuntimeError):
                pass  # the peer went away; its finally block cleans up

    async def _frame(self, conn: _Conn, data: str | bytes) -> None:
        try:
            req = parse_json(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(req, dict):
            return
        rid = req.get("id")
        if "method" not in req:  # an ack of one of our pushes
            key = conn.inflight.pop(rid, None) if isinstance(rid, int) else None
            if key is not None and req.get("result") is True:
                self.acked.setdefault(conn.client, set()).add(key)
            return
        self.methods.append(str(req["method"])[:64])
        try:
            res = await self._call(conn, str(req["method"]), req.get("params") or {})
        except (_BadRequest, KeyError, TypeError, AttributeError) as exc:
            await self._send(conn, _error(rid, -32602, f"invalid params: {exc}"))
            return
        if res is _UNKNOWN:
            await self._send(conn, _error(rid, -32601, "Method not found"))
            return
        result, replay, fresh = res
        await self._send(conn, {"id": rid, "jsonrpc": "2.0", "result": result})
        for topic in replay:
            await self._replay(conn, topic)
        for msg in fresh:
            for peer, sub_id in list(self.subs.get(msg.topic, {}).items()):
                if peer.client != conn.client:
                    await self._push(peer, sub_id, msg)

    async def _call(self, conn: _Conn, method: str, p: dict[str, Any]) -> Any:
        if method in ("irn_subscribe", "irn_batchSubscribe"):
            topics = [p["topic"]] if method == "irn_subscribe" else list(p["topics"])
            ids = [self._subscribe(conn, _topic(t)) for t in topics]
            return (ids[0] if method == "irn_subscribe" else ids), topics, []
        if method in ("irn_unsubscribe", "irn_batchUnsubscribe"):
            subs = [p] if method == "irn_unsubscribe" else list(p["subscriptions"])
            for s in subs:
                self.subs.get(_topic(s["topic"]), {}).pop(conn, None)
            return True, [], []
        if method in ("irn_publish", "irn_batchPublish"):
            items = [p] if method == "irn_publish" else list(p["messages"])
            return True, [], [m for item in items for m in self._store(conn, item)]
        if method == "wc_proposeSession":
            topic = _topic(p["pairingTopic"])
            fresh = self._store(conn, _sign_item(p, topic, "sessionProposal", PROPOSE))
            self._subscribe(conn, topic)
            return True, [topic], fresh
        if method == "wc_approveSession":
            pairing, session = _topic(p["pairingTopic"]), _topic(p["sessionTopic"])
            fresh = self._store(
                conn,
                _sign_item(p, pairing, "sessionProposalResponse", ANSWER),
                _sign_item(p, session, "sessionSettlementRequest", SETTLE),
            )
            self._subscribe(conn, session)
            return True, [session], fresh
        if method in ("irn_fetchMessages", "irn_batchFetchMessages"):
            topics = [p["topic"]] if method == "irn_fetchMessages" else list(p["topics"])
            found = [m for t in topics for m in self._waiting(conn, _topic(t))]
            self.acked.setdefault(conn.client, set()).update(m.key for m in found)
            return {"messages": [m.data() for m in found], "hasMore": False}, [], []
        return _UNKNOWN

    def _subscribe(self, conn: _Conn, topic: str) -> str:
        sub_id = hashlib.sha256(f"{topic}{conn.client}".encode()).hexdigest()
        self.subs.setdefault(topic, {})[conn] = sub_id
        return sub_id

    def _store(self, conn: _Conn, *items: dict[str, Any]) -> list[Stored]:
        """Keep the messages of one call: all of them, or (a bad one) none."""
        now = self.now()
        messages = [self._message(conn, item, now) for item in items]
        for msg in messages:
            box = self.mailbox.setdefault(msg.topic, [])
            box[:] = [m for m in box if m.expires_at > now and m.key != msg.key]
            box.append(msg)
            self.published.append(msg)
        return messages

    @staticmethod
    def _message(conn: _Conn, item: dict[str, Any], now: float) -> Stored:
        topic, message, ttl = _topic(item["topic"]), item["message"], item.get("ttl", 300)
        tag = item.get("tag", 0)
        if not isinstance(message, str) or not message:
            raise _BadRequest("message must be a non-empty string")
        if not isinstance(ttl, int) or not 10 <= ttl <= MAX_TTL or not isinstance(tag, int):
            raise _BadRequest("ttl and tag must be integers (ttl 10 s to 30 days)")
        key = hashlib.sha256(f"{topic}:{message}".encode()).digest()
        return Stored(topic, message, tag, int(now * 1000), now + ttl, conn.client, key)

    def _waiting(self, conn: _Conn, topic: str) -> list[Stored]:
        now, done = self.now(), self.acked.get(conn.client, set())
        return [
            m
            for m in self.mailbox.get(topic, [])
            if m.expires_at > now and m.sender != conn.client and m.key not in done
        ]

    async def _replay(self, conn: _Conn, topic: str) -> None:
        sub_id = self.subs.get(topic, {}).get(conn)
        if sub_id is not None:
            for msg in self._waiting(conn, topic):
                await self._push(conn, sub_id, msg)

    async def _push(self, conn: _Conn, sub_id: str, msg: Stored) -> None:
        if msg.key in conn.pushed:
            return
        conn.pushed.add(msg.key)
        if self.lose_pushes > 0:
            self.lose_pushes -= 1
            return
        push_id = 10**18 + next(self._ids)
        conn.inflight[push_id] = msg.key
        frame = {"id": push_id, "jsonrpc": "2.0", "method": "irn_subscription"}
        await self._send(conn, {**frame, "params": {"id": sub_id, "data": msg.data()}})


_UNKNOWN = object()
# (tag, ttl) the relay gives the messages of wc_proposeSession / wc_approveSession: the tags and
# TTLs of wc_sessionPropose, its answer and wc_sessionSettle (sign-client constants/engine.ts)
PROPOSE, ANSWER, SETTLE = (1100, 300), (1101, 300), (1102, 300)


def _sign_item(p: dict[str, Any], topic: str, field: str, tag_ttl: tuple[int, int]) -> dict:
    """The stored message of one part of a Sign 2.5 call; the client's ``ttl`` (the proposal's
    lifetime) is honoured when it is longer than the default."""
    tag, ttl = tag_ttl
    asked = p.get("ttl", ttl)
    if not isinstance(asked, int) or isinstance(asked, bool):
        raise _BadRequest("ttl must be an integer")
    return {"topic": topic, "message": p[field], "tag": tag, "ttl": max(ttl, asked)}


def _topic(value: Any) -> str:
    if not is_topic(value):
        raise _BadRequest("a topic is 64 lowercase hex characters")
    return value


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"id": rid, "jsonrpc": "2.0", "error": {"code": code, "message": message}}


async def _serve(port: int, project_id: str | None) -> None:
    relay = await LocalRelay(project_id=project_id).start(port)
    print(f"WalletConnect local relay on {relay.url}", flush=True)  # noqa: T201
    try:
        await asyncio.Event().wait()
    finally:
        await relay.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m rigshare_dev.walletconnect.local_relay [--port N] [--project-id ID]``."""
    parser = argparse.ArgumentParser(description="a WalletConnect relay on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project-id", default=None)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.project_id))


if __name__ == "__main__":
    main()
