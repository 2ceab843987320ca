"""Harness for the WalletConnect tests: a local relay, a dapp wallet on a real database, a
recorder of the core events, a TLS certificate for 127.0.0.1, and pyWalletConnect in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eth_account.messages import encode_defunct

from contracts.walletconnect.store import SecretBox
from contracts.walletconnect.wallet import WalletConnectWallet
from core.db.uow import SqlAlchemyUowFactory

PROJECT = "test-project"
PUBLIC_URL = "http://127.0.0.1:8080"
AT_REST_KEY = bytes(range(32))


class Recorder:
    """A core.ports.RentalEvents that records what the wallet adapter reports."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self._changed = asyncio.Event()

    def _add(self, call: tuple) -> None:
        self.calls.append(call)
        self._changed.set()

    async def wallet_connected(self, user_id: int, request_id: str | None, address: str) -> None:
        self._add(("connected", user_id, request_id, address))

    async def wallet_disconnected(self, user_id: int, reason: str) -> None:
        self._add(("disconnected", user_id, reason))

    async def signature_received(self, request_id: str, signature: str) -> None:
        self._add(("signed", request_id, signature))

    async def signature_failed(self, request_id: str, reason: str) -> None:
        self._add(("failed", request_id, reason))

    def of(self, kind: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == kind]

    async def wait(self, kind: str, count: int = 1, within: float = 10.0) -> tuple:
        """The ``count``-th call of ``kind`` (waits for it)."""
        deadline = time.monotonic() + within
        while len(self.of(kind)) < count:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event; got {self.calls}")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        return self.of(kind)[count - 1]


async def until(condition: Callable[[], Any], within: float = 10.0) -> None:
    """Poll ``condition`` (state another thread or task changes) until it holds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def drain(wallet: WalletConnectWallet) -> None:
    """Let what the relay pushed reach the dapp's workers, and wait until they handled it."""
    await asyncio.sleep(0.1)
    await asyncio.wait_for(wallet.client._queue.join(), 5)


def make_wallet(
    db: Any, relay_url: str, clock: Any, *, ssl_ctx: ssl.SSLContext | None = None, **kw: Any
) -> tuple[WalletConnectWallet, Recorder]:
    wallet = WalletConnectWallet(
        SqlAlchemyUowFactory(db),
        clock,
        relay_url=relay_url,
        project_id=PROJECT,
        chain_id=kw.pop("chain_id", 137),
        public_url=PUBLIC_URL,
        box=SecretBox(AT_REST_KEY),
        ssl=ssl_ctx,
        sweep_interval=0.05,
        rpc_timeout=3.0,
        connect_wait=5.0,
        **kw,
    )
    events = Recorder()
    wallet.bind(events)
    return wallet, events


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext, Path]:
    """(server context, client context, CA file) for a certificate of IP 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = directory / "relay-cert.pem"
    key_pem = directory / "relay-key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client, cert_pem


class PlainSocket:
    """pyWalletConnect's TLSsocket interface over plain TCP (it only speaks TLS itself)."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = socket.create_connection((host, port))
        self.conn.setblocking(False)
        self.lock = threading.Lock()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, data: bytes) -> None:
        with self.lock:
            self.conn.setblocking(True)
            self.conn.sendall(data)
            self.conn.setblocking(False)

    def receive(self) -> bytes:
        with self.lock:
            try:
                data = self.conn.recv(8192)
            except BlockingIOError:
                return b""
        if data == b"":
            self.close()
        return data


def _locked_tls_socket() -> type:
    """pyWalletConnect reads its TLS socket from a timer thread while the caller's thread
    writes to it; one SSL object used by two threads at once corrupts the stream now and then
    (the relay then drops the connection). A lock around both keeps the tests deterministic."""
    import pywalletconnect.tls_socket as tls

    class LockedTLSsocket(tls.TLSsocket):
        def __init__(self, domain: str, port: int) -> None:
            self.lock = threading.Lock()
            super().__init__(domain, port)

        def send(self, data_buffer: bytes) -> None:
            with self.lock:
                super().send(data_buffer)

        def receive(self) -> bytes:
            with self.lock:
                return super().receive()

    return LockedTLSsocket


def patch_pywalletconnect(monkeypatch: Any, port: int, cafile: Path | None) -> None:
    """Point pyWalletConnect at the local relay (plain TCP, or TLS trusting ``cafile``) and make
    it poll every 50 ms instead of 400 ms (same 8 s timeouts)."""
    import pywalletconnect.client_v2irn as v2
    import pywalletconnect.tls_socket as tls
    import pywalletconnect.websocket as ws
    from pywalletconnect.client import WCClient

    monkeypatch.setattr(v2.WCv2Client, "host_relay", f"127.0.0.1:{port}")
    monkeypatch.setattr(WCClient, "project_id", PROJECT)
    for module in (v2, ws):
        monkeypatch.setattr(module, "UNIT_WAITING_TIME", 0.05)
        monkeypatch.setattr(module, "CYCLES_TIMEOUT", 160)
    if cafile is None:
        monkeypatch.setattr(ws, "TLSsocket", PlainSocket)
    else:
        monkeypatch.setattr(
            tls, "create_default_context", lambda: ssl.create_default_context(cafile=str(cafile))
        )
        monkeypatch.setattr(ws, "TLSsocket", _locked_tls_socket())


class PyWallet:
    """pyWalletConnect 1.6.2 as the user's wallet, in a thread of its own (it blocks and polls).

    ``policy(method, params) -> ("sign" | "reject" | "hold" | ("answer", value))`` decides what
    it does with each request; held requests wait for :meth:`release`. Every call into
    pyWalletConnect happens on its thread."""

    def __init__(
        self,
        uri: str,
        account: Any,
        *,
        chain_id: int = 137,
        approve: bool = True,
        policy: Callable[[str, Any], Any] = lambda method, params: "sign",
    ) -> None:
        self.uri, self.account, self.chain_id = uri, account, chain_id
        self.approve, self.policy = approve, policy
        self.received: list[tuple[int, str, Any]] = []
        self.held: list[tuple[int, str, Any]] = []
        self.errors: list[BaseException] = []
        self.client: Any = None  # kept referenced: its __del__ would send a delete
        self._commands: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.settled = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> PyWallet:
        self._thread.start()
        return self

    def _main(self) -> None:
        from pywalletconnect import WCClient

        try:
            self.client = WCClient.from_wc_uri(self.uri)
            rid, chains, _meta = self.client.open_session()
            self.proposed_chains = chains
            if not self.approve:
                self.client.reject_session_request(rid)
                return
            self.client.reply_session_request(rid, self.chain_id, self.account.address)
            self.settled.set()
            while True:
                while not self._commands.empty():
                    self._commands.get()()
                if self._stop.is_set():
                    break
                mid, method, params = self.client.get_message()
                if mid is None:
                    time.sleep(0.02)
                    continue
                self.received.append((mid, method, params))
                if method == "wc_sessionRequest":
                    self._answer(mid, params["request"])
        except BaseException as exc:  # surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            self._quiet()

    def _quiet(self) -> None:
        """Close the socket without a goodbye: pyWalletConnect's ``__del__`` would otherwise
        publish a delete and wait for the relay, on whatever thread collects it."""
        if self.client is not None:
            self.client.wallet_id = ""
            if self.client.websock is not None:
                self.client.websock.close()

    def _answer(self, mid: int, request: dict) -> None:
        decision = self.policy(request["method"], request["params"])
        if decision == "sign":
            self.client.reply(mid, self.sign(request))
        elif decision == "reject":
            self.client.reply_error(mid, "User rejected.", 4001)
        elif decision == "hold":
            self.held.append((mid, request["method"], request))
        else:
            self.client.reply(mid, decision[1])

    def sign(self, request: dict) -> str:
        method, params = request["method"], request["params"]
        if method == "eth_signTypedData_v4":
            signed = self.account.sign_typed_data(full_message=json.loads(params[1]))
        else:
            signed = self.account.sign_message(encode_defunct(hexstr=params[0]))
        return "0x" + bytes(signed.signature).hex()

    def run(self, fn: Callable[[], Any]) -> None:
        self._commands.put(fn)

    def release(self) -> None:
        """Sign every held request now."""

        def go() -> None:
            while self.held:
                mid, _, request = self.held.pop(0)
                self.client.reply(mid, self.sign(request))

        self.run(go)

    def close(self) -> None:
        """The user disconnects in the wallet (wc_sessionDelete 6000)."""

        def go() -> None:
            self.client.close()
            self._stop.set()  # a closed pyWalletConnect client would reconnect to nothing

        self.run(go)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 20)
