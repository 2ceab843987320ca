"""Relay calls (publish, subscribe, unsubscribe) with retries over reconnects, and the errors.

Part of :class:`contracts.walletconnect.relay.RelayClient`, which owns the connection
(``_ws``, ``connected``, ``topics``, ``_pending``, ``_sub_ids``) and the reader that answers
``_pending`` futures.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from contracts.walletconnect import protocol as p

log = logging.getLogger(__name__)
BATCH = 500  # topics per batch call, as the JS subscriber does


class RelayError(Exception):
    """The relay could not be used; ``str(exc)`` says why."""


class RelayUnavailable(RelayError):
    """Not connected (or the connection dropped) and no answer came in time."""


class RelayRefused(RelayError):
    """The relay refused a call or our credentials (project id, JWT)."""


@dataclass(frozen=True, slots=True)
class RelayMessage:
    topic: str
    message: str
    published_at: int
    tag: int


class RelayCalls:
    """Mixin: JSON-RPC calls to the relay over RelayClient's current connection."""

    async def _call(
        self, method: str, params: dict[str, Any], ws: aiohttp.ClientWebSocketResponse
    ) -> Any:
        rid = p.relay_rpc_id()
        while rid in self._pending:
            rid += 1
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send_str(json.dumps(p.request(rid, method, params)))
            answer = await asyncio.wait_for(fut, self.rpc_timeout)
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise RelayUnavailable(f"the relay connection dropped ({exc})") from exc
        except TimeoutError as exc:
            raise RelayUnavailable(f"the relay did not answer {method}") from exc
        finally:
            self._pending.pop(rid, None)
        if "error" in answer:
            raise RelayRefused(f"{method}: {str(answer['error'])[:200]}")
        return answer.get("result")

    async def _reliable(self, method: str, params: dict[str, Any], attempts: int = 4) -> Any:
        """Call once connected; retried over reconnects (the spec asks for three retries)."""
        last: RelayError | None = None
        for _ in range(attempts):
            try:
                await asyncio.wait_for(self.connected.wait(), self.rpc_timeout)
            except TimeoutError:
                raise RelayUnavailable("not connected to the WalletConnect relay") from last
            ws = self._ws
            if ws is None:
                continue
            try:
                return await self._call(method, params, ws)
            except RelayUnavailable as exc:
                last = exc
        raise last or RelayUnavailable("not connected to the WalletConnect relay")

    async def publish(
        self, topic: str, message: str, *, tag: int, ttl: int, prompt: bool = False
    ) -> None:
        """Publish an envelope. Raises RelayUnavailable or RelayRefused."""
        params = {"topic": topic, "message": message, "ttl": ttl, "tag": tag}
        if prompt:
            params["prompt"] = True
        await self._reliable("irn_publish", params)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Another relay method (``wc_approveSession``, ...), retried over reconnects. Raises
        RelayUnavailable or RelayRefused."""
        return await self._reliable(method, params)

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Listen on ``topics`` from now on (and after every reconnect). When not connected the
        topics are subscribed on the next connection. Raises RelayRefused."""
        new = [t for t in topics if t not in self.topics]
        self.topics.update(new)
        ws = self._ws
        if not new or ws is None or not self.connected.is_set():
            return
        for i in range(0, len(new), BATCH):
            chunk = new[i : i + BATCH]
            try:
                if len(chunk) == 1:
                    self._sub_ids[chunk[0]] = await self._call(
                        "irn_subscribe", {"topic": chunk[0]}, ws
                    )
                else:
                    ids = await self._call("irn_batchSubscribe", {"topics": chunk}, ws)
                    self._sub_ids.update(zip(chunk, ids or [], strict=False))
            except RelayUnavailable:
                return  # the reconnect subscribes everything in self.topics

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        """Stop listening on ``topics``; best effort at the relay (errors are logged)."""
        gone = [t for t in topics if t in self.topics]
        self.topics.difference_update(gone)
        ws = self._ws
        for topic in gone:
            sub_id = self._sub_ids.pop(topic, None)
            if ws is None or not self.connected.is_set():
                continue
            try:
                await self._call("irn_unsubscribe", {"topic": topic, "id": sub_id or ""}, ws)
            except RelayError as exc:
                log.info("unsubscribe of a topic failed (%s); ignored", exc)
