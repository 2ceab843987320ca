"""The one websocket to the WalletConnect relay, shared by every pairing and session.

JSON-RPC over aiohttp: ``irn_publish``, ``irn_(batch)Subscribe``, ``irn_unsubscribe``,
``irn_batchFetchMessages``; incoming ``irn_subscription`` pushes are acknowledged at once and
handed, deduplicated, to a synchronous callback. The reader never awaits a relay answer itself
(that deadlocks: the answer can only come through the reader), so callers run their handlers
on another task. After a drop the client reconnects with backoff and a fresh JWT, fetches what
the mailbox holds and subscribes every topic again before anything else is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import ssl as ssl_module
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from contracts.walletconnect import protocol as p
from contracts.walletconnect.relay_auth import client_id, sign_jwt
from contracts.walletconnect.relay_calls import (
    BATCH,
    RelayCalls,
    RelayError,
    RelayMessage,
    RelayRefused,
    RelayUnavailable,
)
from core.safe_json import parse_json

log = logging.getLogger(__name__)
USER_AGENT = "wc-2/python-rigshare-0.1/linux/bot"
MAX_FRAME = 4 * 1024 * 1024


class RelayClient(RelayCalls):
    """A reconnecting relay connection. ``on_message`` is called in the reader: keep it quick."""

    def __init__(
        self,
        url: str,
        project_id: str,
        seed: bytes,
        on_message: Callable[[RelayMessage], None],
        *,
        ssl: ssl_module.SSLContext | None = None,
        rpc_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        heartbeat: float = 30.0,
        dedupe: int = 50_000,
    ) -> None:
        self.url = url
        self.project_id = project_id
        self.seed = seed
        self.client_id = client_id(seed)
        self.on_message = on_message
        self.ssl = ssl
        self.rpc_timeout = rpc_timeout
        self.backoff = backoff
        self.heartbeat = heartbeat
        self.topics: set[str] = set()
        self.connected = asyncio.Event()
        self.connects = 0
        self.refused: str | None = None  # the last handshake refusal, for start() and logs
        self._attempted = asyncio.Event()  # the first connection attempt is over
        self._sub = os.urandom(32).hex()  # the JWT subject: one per client run
        self._dedupe = dedupe
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._sub_ids: dict[str, str] = {}
        self._pending: dict[int, asyncio.Future] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------------
    async def start(self, *, wait: float = 10.0) -> None:
        """Connect in the background and wait up to ``wait`` seconds for the first connection.
        Raises RelayRefused when the relay refused the credentials, RelayUnavailable when it was
        not reached in time (the client keeps trying in the background either way)."""
        if self._task is None:
            self._session = aiohttp.ClientSession()
            self._task = asyncio.create_task(self._run(), name="walletconnect-relay")
        deadline = asyncio.get_running_loop().time() + wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), wait)
            if not self.refused:
                left = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(self.connected.wait(), max(left, 0))
        if not self.connected.is_set():
            if self.refused:
                raise RelayRefused(f"the WalletConnect relay refused us: {self.refused}")
            raise RelayUnavailable(f"the WalletConnect relay {self.url} did not answer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drop(self) -> None:
        """Close the current connection (tests: the client reconnects by itself)."""
        if self._ws is not None:
            await self._ws.close()

    def _connect_url(self) -> str:
        jwt = sign_jwt(self.seed, sub=self._sub, aud=self.url, iat=int(time.time()))
        query = {"auth": jwt, "projectId": self.project_id, "ua": USER_AGENT}
        return str(URL(self.url).update_query(query))

    async def _run(self) -> None:
        low, high = self.backoff
        delay = low
        while True:
            try:
                ws = await self._session.ws_connect(
                    self._connect_url(),
                    ssl=self.ssl if self.ssl is not None else True,
                    heartbeat=self.heartbeat,
                    max_msg_size=MAX_FRAME,
                )
            except aiohttp.WSServerHandshakeError as exc:
                self.refused = f"HTTP {exc.status}"
                log.warning("WalletConnect relay refused the connection: HTTP %s", exc.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("WalletConnect relay unreachable (%s); retrying", exc)
            else:
                self.refused = None
                delay = low
                await self._serve(ws)
            self._attempted.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reader = asyncio.create_task(self._read(ws))
        self._ws = ws
        try:
            await self._restore(ws)
            self.connects += 1
            self.connected.set()
            self._attempted.set()
            await reader
        except (RelayError, aiohttp.ClientError, OSError) as exc:
            log.warning("WalletConnect relay connection lost: %s", exc)
        finally:
            self.connected.clear()
            self._ws = None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()

    async def _restore(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Fetch what the mailbox holds for our topics, then subscribe them all again; topics
        added meanwhile (handlers keep running) are subscribed before the connection counts."""
        done: set[str] = set()
        while todo := sorted(self.topics - done):
            done.update(todo)
            await self._restore_topics(ws, todo)

    async def _restore_topics(self, ws: aiohttp.ClientWebSocketResponse, topics: list[str]) -> None:
        for i in range(0, len(topics), BATCH):
            chunk = topics[i : i + BATCH]
            for _ in range(100):  # the relay pages with hasMore
                try:
                    res = await self._call("irn_batchFetchMessages", {"topics": chunk}, ws)
                except RelayRefused:
                    break  # an older relay without fetch: subscribing replays the mailbox
                for m in res.get("messages", []) if isinstance(res, dict) else []:
                    self._deliver(m)
                if not (isinstance(res, dict) and res.get("hasMore")):
                    break
            ids = await self._call("irn_batchSubscribe", {"topics": chunk}, ws)
            if isinstance(ids, list):
                self._sub_ids.update(zip(chunk, ids, strict=False))

    # -- incoming ---------------------------------------------------------------------------
    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._read_frames(ws)
        finally:  # answers that can no longer come: fail their callers at once
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RelayUnavailable("the relay connection dropped"))

    async def _read_frames(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            try:
                msg = parse_json(frame.data)
            except (ValueError, UnicodeDecodeError):
                log.warning("dropped a relay frame that is not JSON")
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("method") == "irn_subscription" and p.valid_id(msg.get("id")):
                await ws.send_str(json.dumps(p.result(msg["id"], True)))
                params = msg.get("params")
                self._deliver(params.get("data") if isinstance(params, dict) else None)
            elif "method" in msg:
                log.info("ignored relay request %r", str(msg.get("method"))[:40])
            else:
                fut = self._pending.get(msg.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(msg)

    def _deliver(self, data: Any) -> None:
        if not isinstance(data, dict):
            log.warning("dropped a relay push without data")
            return
        topic, message = data.get("topic"), data.get("message")
        if not isinstance(topic, str) or not isinstance(message, str):
            log.warning("dropped a relay push without topic or message")
            return
        if topic not in self.topics:
            return  # acknowledged, but not ours (any more)
        key = hashlib.sha256(f"{topic}:{message}".encode()).digest()[:16]
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > self._dedupe:
            self._seen.popitem(last=False)
        published, tag = data.get("publishedAt"), data.get("tag")
        item = RelayMessage(
            topic,
            message,
            published if isinstance(published, int) else 0,
            tag if isinstance(tag, int) else 0,
        )
        try:
            self.on_message(item)
        except Exception:
            log.exception("WalletConnect message handler failed")


__all__ = ["RelayClient", "RelayError", "RelayMessage", "RelayRefused", "RelayUnavailable"]
