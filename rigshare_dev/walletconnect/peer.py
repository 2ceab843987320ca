"""A minimal WalletConnect wallet of our own (the responder side), on :mod:`.relay` and :mod:`.crypto`.

Used by tests for what pyWalletConnect cannot do (JS ordering: settle before the proposal answer,
events, updates, extensions, type-1 envelopes, wallet-side pings) and by the demo as the
scripted renter wallet: it signs typed data v4 and personal_sign with an ``eth_account`` key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from contracts.walletconnect import protocol as p
from contracts.walletconnect.crypto import (
    KeyPair,
    derive_sym_key,
    seal_json,
    topic_of,
    unseal,
)
from contracts.walletconnect.relay import RelayClient, RelayMessage
from contracts.walletconnect.relay_auth import new_seed
from contracts.walletconnect.uri import parse_uri
from core.safe_json import parse_json

METADATA = {
    "name": "rigshare scripted wallet",
    "description": "a test wallet",
    "url": "http://127.0.0.1",
    "icons": [],
}


@dataclass(frozen=True)
class Incoming:
    id: int
    method: str
    params: Any
    topic: str


class WalletPeer:
    """One wallet with one account. Methods raise TimeoutError when the dapp stays silent."""

    def __init__(
        self,
        relay_url: str,
        account: LocalAccount | None = None,
        *,
        chain_id: int = 137,
        project_id: str = "peer",
        ssl: ssl_module.SSLContext | None = None,
        now: Callable[[], int] = lambda: int(time.time()),
        padded: bool = True,
        timeout: float = 5.0,
    ) -> None:
        self.account = account or Account.create()
        self.chain_id = chain_id
        self.now = now
        self.padded = padded
        self.timeout = timeout
        self.keys: dict[str, bytes] = {}
        self.session_topic: str | None = None
        self.deleted: dict | None = None  # the dapp's wc_sessionDelete params, once received
        self.extended: dict | None = None  # the dapp's wc_sessionExtend params, once received
        self.agrees_to_extend = True
        self.requests: asyncio.Queue[Incoming] = asyncio.Queue()
        self._proposals: asyncio.Queue[Incoming] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future] = {}
        self._own: KeyPair | None = None
        self.relay = RelayClient(relay_url, project_id, new_seed(), self._feed, ssl=ssl)
        self._inbox: asyncio.Queue[RelayMessage] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return self.account.address

    async def start(self) -> WalletPeer:
        await self.relay.start()
        self._task = asyncio.create_task(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.relay.stop()

    # -- plumbing -------------------------------------------------------------------------------
    def _feed(self, msg: RelayMessage) -> None:
        self._inbox.put_nowait(msg)

    async def _loop(self) -> None:
        while True:
            msg = await self._inbox.get()
            key = self.keys.get(msg.topic)
            try:
                body = parse_json(unseal(key, msg.message)) if key else None
            except ValueError:
                body = None  # a wallet ignores what it cannot open
            if not isinstance(body, dict) or "id" not in body:
                continue
            if "method" not in body:
                fut = self._answers.pop(body["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(body)
                continue
            item = Incoming(body["id"], body["method"], body.get("params"), msg.topic)
            if item.method == "wc_sessionPropose":
                self._proposals.put_nowait(item)
            elif item.method in ("wc_sessionPing", "wc_pairingPing"):
                await self.respond(item, True)
            elif item.method == "wc_sessionDelete":
                self.deleted = item.params
                await self.respond(item, True)
            elif item.method == "wc_sessionExtend":  # from the dapp: agreed, as the SDK does
                self.extended = item.params
                if self.agrees_to_extend:
                    await self.respond(item, True)
                else:
                    await self.respond(item, error=(5000, "User rejected."))
            else:
                self.requests.put_nowait(item)

    async def publish(
        self,
        topic: str,
        payload: dict,
        tag: int,
        ttl: int = 300,
        *,
        sender_public: bytes | None = None,
    ) -> None:
        message = seal_json(self.keys[topic], payload, sender_public=sender_public)
        await self.relay.publish(
            topic, message if self.padded else message.rstrip("="), tag=tag, ttl=ttl
        )

    async def respond(self, item: Incoming, result: Any = None, error: tuple | None = None) -> None:
        body = p.error(item.id, *error) if error else p.result(item.id, result)
        await self.publish(item.topic, body, p.spec(item.method).res_tag)

    async def send(self, method: str, params: Any, topic: str | None = None) -> asyncio.Future:
        """Publish a request to the dapp; the future gets its answer (the raw response)."""
        wc_id = p.payload_id()
        fut = asyncio.get_running_loop().create_future()
        self._answers[wc_id] = fut
        spec = p.spec(method)
        body = p.request(wc_id, method, params)
        await self.publish(topic or self.session_topic, body, spec.req_tag, spec.ttl)
        return fut

    async def call(self, method: str, params: Any, topic: str | None = None) -> dict:
        """Send a request to the dapp and wait for its answer."""
        return await asyncio.wait_for(await self.send(method, params, topic), self.timeout)

    # -- pairing --------------------------------------------------------------------------------
    async def pair(self, uri: str) -> Incoming:
        """Subscribe the URI's pairing topic and wait for the proposal."""
        pairing = parse_uri(uri)
        self.keys[pairing.topic] = pairing.sym_key
        await self.relay.subscribe([pairing.topic])
        return await asyncio.wait_for(self._proposals.get(), self.timeout)

    async def approve(
        self,
        proposal: Incoming,
        *,
        accounts: list[str] | None = None,
        methods: list[str] | None = None,
        expiry: int | None = None,
        settle_first: bool = True,
        controller_key: str | None = None,
        relay_approve: bool = False,
    ) -> dict:
        """Approve like the JS SDK: with ``relay_approve`` in one ``wc_approveSession`` call (the
        relay publishes both parts and subscribes us to the session topic, as WalletKit does it);
        else settle on the session topic first (when ``settle_first``, as SDKs before 2.21.6)
        and answer the proposal. Returns the dapp's answer to the settle."""
        self._own = KeyPair.generate()
        proposer = bytes.fromhex(proposal.params["proposer"]["publicKey"])
        sym = derive_sym_key(self._own.private, proposer)
        self.session_topic = topic_of(sym)
        self.keys[self.session_topic] = sym
        if not relay_approve:
            await self.relay.subscribe([self.session_topic])
        chain = f"eip155:{self.chain_id}"
        ns = proposal.params["optionalNamespaces"]["eip155"]
        settle = {
            "relay": {"protocol": "irn"},
            "controller": {
                "publicKey": controller_key or self._own.public.hex(),
                "metadata": METADATA,
            },
            "namespaces": {
                "eip155": {
                    "chains": [chain],
                    "accounts": accounts or [f"{chain}:{self.address}"],
                    "methods": methods if methods is not None else ns["methods"],
                    "events": ns["events"],
                }
            },
            "expiry": expiry or self.now() + 7 * 86_400,
        }
        answer = {"relay": {"protocol": "irn"}, "responderPublicKey": self._own.public.hex()}
        if relay_approve:
            return await self._approve_at_relay(proposal, answer, settle)
        if settle_first:
            settled = await self.send("wc_sessionSettle", settle)
            await self.publish(proposal.topic, p.result(proposal.id, answer), 1101)
            return await asyncio.wait_for(settled, self.timeout)
        await self.publish(proposal.topic, p.result(proposal.id, answer), 1101)
        return await self.call("wc_sessionSettle", settle)

    async def _approve_at_relay(self, proposal: Incoming, answer: dict, settle: dict) -> dict:
        wc_id = p.payload_id()
        settled = asyncio.get_running_loop().create_future()
        self._answers[wc_id] = settled
        self.relay.topics.add(self.session_topic)  # the relay subscribes it; resubscribed later
        params = {
            "pairingTopic": proposal.topic,
            "sessionTopic": self.session_topic,
            "sessionProposalResponse": seal_json(
                self.keys[proposal.topic], p.result(proposal.id, answer)
            ),
            "sessionSettlementRequest": seal_json(
                self.keys[self.session_topic], p.request(wc_id, "wc_sessionSettle", settle)
            ),
            "correlationId": proposal.id,
        }
        await self.relay.call("wc_approveSession", params)
        return await asyncio.wait_for(settled, self.timeout)

    async def reject(self, proposal: Incoming, code: int = p.USER_REJECTED) -> None:
        await self.publish(
            proposal.topic, p.error(proposal.id, code, "User rejected the session."), 1120
        )

    # -- requests -------------------------------------------------------------------------------
    async def next_request(self, wait: float | None = None) -> Incoming:
        return await asyncio.wait_for(self.requests.get(), wait or self.timeout)

    def signature_for(self, item: Incoming) -> str:
        """Sign a wc_sessionRequest the way MetaMask does (65-byte r||s||v, 0x hex)."""
        request = item.params["request"]
        method, params = request["method"], request["params"]
        if method == "eth_signTypedData_v4":
            signed = self.account.sign_typed_data(full_message=json.loads(params[1]))
        elif method == "personal_sign":
            signed = self.account.sign_message(encode_defunct(hexstr=params[0]))
        else:
            raise ValueError(f"the scripted wallet does not do {method}")
        return "0x" + bytes(signed.signature).hex()

    async def sign(self, item: Incoming | None = None) -> str:
        item = item or await self.next_request()
        signature = self.signature_for(item)
        await self.respond(item, signature)
        return signature

    async def refuse(self, item: Incoming | None = None, code: int = 4001) -> None:
        item = item or await self.next_request()
        await self.respond(item, error=(code, "User rejected."))

    async def serve(self, approve: Callable[[Incoming], bool] = lambda _: True) -> None:
        """Answer every request, each in a task of its own: sign when ``approve`` says so,
        else reject (4001)."""
        tasks: set[asyncio.Task] = set()

        async def answer(item: Incoming) -> None:
            if item.method != "wc_sessionRequest":
                await self.respond(item, error=(p.INVALID_METHOD, "unsupported"))
            elif approve(item):
                await self.sign(item)
            else:
                await self.refuse(item)

        while True:
            task = asyncio.create_task(answer(await self.requests.get()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # -- lifecycle ------------------------------------------------------------------------------
    async def ping(self) -> dict:
        return await self.call("wc_sessionPing", {})

    async def delete(self) -> None:
        """wc_sessionDelete 6000; the dapp's acknowledgement is not awaited (it may be gone)."""
        body = p.request(
            p.payload_id(), "wc_sessionDelete", {"code": 6000, "message": "User disconnected."}
        )
        await self.publish(self.session_topic, body, 1112, p.DAY)

    async def emit(self, name: str, data: Any, *, wait: bool = True) -> dict | None:
        """wc_sessionEvent; the answer is awaited only with ``wait`` (a JS SDK dapp answers an
        event only when it refuses it)."""
        event = {"event": {"name": name, "data": data}, "chainId": f"eip155:{self.chain_id}"}
        answer = await self.send("wc_sessionEvent", event)
        return await asyncio.wait_for(answer, self.timeout) if wait else None

    async def change_account(self, account: LocalAccount, *, wait: bool = True) -> dict | None:
        self.account = account
        accounts = [f"eip155:{self.chain_id}:{account.address}"]
        return await self.emit("accountsChanged", accounts, wait=wait)

    async def update(self, accounts: list[str], methods: list[str]) -> dict:
        chains = sorted({":".join(a.split(":")[:2]) for a in accounts if a.count(":") == 2})
        ns = {"chains": chains, "accounts": accounts, "methods": methods}
        ns["events"] = ["chainChanged", "accountsChanged"]
        return await self.call("wc_sessionUpdate", {"namespaces": {"eip155": ns}})

    async def extend(self, expiry: int | None = None) -> dict:
        """wc_sessionExtend: ``params: {}`` as every JS SDK sends it (now + 7 days on both
        sides), or the older explicit ``expiry``."""
        return await self.call("wc_sessionExtend", {} if expiry is None else {"expiry": expiry})
