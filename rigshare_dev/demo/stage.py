"""Everything the demo runs on, all on this machine and on loopback.

The service as ``rigshare run`` builds it (SQLite in a temporary directory, the development
chain with MockUSDC and the escrow, the agent API and signing page), a local WalletConnect
relay with scripted wallets for the renter and the provider (real WalletConnect v2 sessions,
real EIP-712 and personal_sign signatures), and a provider agent with a simulated GPU whose
rental is a real container instance when a container engine is at hand (``demo/host.py``), or
simulated access otherwise — the demo says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bot.bootstrap import App, build_app
from bot.settings import Settings
from bot.web.app import WebServer
from rigshare_dev.demo.host import DemoEngine, Host, instance_unavailable_reason
from rigshare_dev.walletconnect.local_relay import LocalRelay
from rigshare_dev.walletconnect.peer import WalletPeer

DEMO_PROJECT_ID = "rigshare-demo"
USDC = 1_000_000


class DemoClock:
    """Wall-clock time that the story can move forward ("47 minutes later")."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> None:
        self.offset += seconds


@dataclass
class Wallet:
    """A person's scripted mobile wallet: pairs when its owner taps the link, then signs."""

    peer: WalletPeer
    signed_at: list[float] = field(default_factory=list)  # monotonic time of each signature
    _server: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return self.peer.address

    async def tap(self, wc_uri: str) -> None:
        """Open the wallet from the chat's link: approve the session, then answer requests."""
        proposal = await self.peer.pair(wc_uri)
        await self.peer.approve(proposal)
        if self._server is None:
            self._server = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            item = await self.peer.requests.get()
            await self.peer.sign(item)
            self.signed_at.append(time.monotonic())

    async def close(self) -> None:
        if self._server is not None:
            self._server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._server
        await self.peer.stop()


@dataclass
class Stage:
    app: App
    clock: DemoClock
    relay: LocalRelay
    web: WebServer
    workdir: Path
    host: Host
    notes: list[str]
    _cleanup: contextlib.AsyncExitStack

    async def wallet(self, usdc: int = 0) -> Wallet:
        """A fresh scripted wallet on the relay, funded with ``usdc`` MockUSDC."""
        account: LocalAccount = Account.create()
        if usdc:
            await self.app.dev_chain.fund(account.address, usdc * USDC)
        peer = await WalletPeer(
            self.relay.url,
            account,
            chain_id=self.app.escrow.chain_id,
            project_id=DEMO_PROJECT_ID,
            now=self.clock.now,
        ).start()
        wallet = Wallet(peer)
        self._cleanup.push_async_callback(wallet.close)
        return wallet

    async def close(self) -> None:
        await self._cleanup.aclose()


async def build_stage(*, arbiter_delay_s: int = 60, engine: DemoEngine | None = None) -> Stage:
    """Bring everything up on loopback in a temporary directory; instances run on ``engine``
    when it can run them (else they are simulated, and the notes say why)."""
    stack = contextlib.AsyncExitStack()
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="rigshare-demo-"))
    workdir = Path(tmp)
    clock = DemoClock()
    relay = await LocalRelay(project_id=DEMO_PROJECT_ID).start()
    stack.push_async_callback(relay.stop)
    port = _free_port()
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{workdir}/demo.sqlite3",
        data_dir=str(workdir),
        chain="dev",
        wc_project_id=DEMO_PROJECT_ID,
        wc_relay_url=relay.url,
        public_url=f"http://127.0.0.1:{port}",
        web_port=port,
        simulated_providers=0,
        arbiter_delay_s=arbiter_delay_s,
    )
    app = build_app(settings, clock=clock, agents="http")
    await app.start()
    stack.push_async_callback(app.close)
    web = await WebServer(app, port=port).start()
    stack.push_async_callback(web.stop)
    why = await instance_unavailable_reason(engine)
    host = Host(workdir, web.url, clock.now, engine if why is None else None)
    stack.push_async_callback(host.stop)
    await host.start()
    notes = [n for n in app.notes if not n.startswith("wallet:")]
    notes.append(f"WalletConnect: local relay {relay.url}; the phones run scripted wallets")
    if host.real:
        notes.append(f"provider host: rentals run as containers on {host.describe()}")
    else:
        notes.append(f"provider host: SIMULATED instances, no login possible ({why})")
    return Stage(app, clock, relay, web, workdir, host, notes, stack)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
