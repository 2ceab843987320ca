"""``rigshare demo``: one whole rental, printed as the chat shows it, with its figures.

Everything is real except the GPUs (simulated by the agent) and the phones (scripted
WalletConnect wallets): the service, the development chain and escrow, the relay, the agent
daemon over HTTP, and — when a container engine is there and the demo runs as root — the
rental's container the renter logs into over SSH (it sees only its one GPU). ``--dispute`` takes the host down in the middle of the rental and
shows the evidence-based partial refund.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Callable

from core.domain.money import format_usdc, places_for
from rigshare_dev.demo.figures import Figures, money_check, rental_gas
from rigshare_dev.demo.host import DemoEngine, engine_from_env
from rigshare_dev.demo.stage import Stage, Wallet, build_stage
from rigshare_dev.demo.terminal import DemoChat

PROVIDER, RENTER = "gpuhost", "alice"
TOKEN = re.compile(r"rsa_[A-Za-z0-9_\-]{20,}")
WAIT_S = 30.0


class DemoFailed(RuntimeError):
    """A step of the story did not happen in time (printed, exit status 1)."""


class Story:
    def __init__(self, stage: Stage, out: Callable[[str], None]) -> None:
        self.stage, self.app, self.out = stage, stage.app, out
        self.chat = DemoChat(stage.app, out)
        self.figures = Figures()

    # -- helpers ----------------------------------------------------------------------------
    def scene(self, title: str) -> None:
        self.out(f"\n── {title} " + "─" * max(3, 70 - len(title)))

    def narrate(self, text: str) -> None:
        self.out(f"   ({text})")

    async def say(self, user: str, line: str):
        self.out(f"{user}> {line}")
        return await self.chat.say(user, line)

    async def until(self, what: str, check: Callable[[], object], limit_s: float = WAIT_S):
        """Deliver notifications until ``check()`` is truthy; DemoFailed after ``limit_s``."""
        deadline = time.monotonic() + limit_s
        while True:
            await self.chat.flush()
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def tap_link(self, reply, wallet: Wallet, owner: str) -> None:
        uri = reply.meta.get("wc_uri")
        if uri:
            self.narrate(f"{owner} taps 'Open wallet'; the wallet app pairs over WalletConnect")
            await wallet.tap(uri)
        else:
            self.narrate(f"{owner}'s wallet is already connected: the request pops up there")

    # -- the story ---------------------------------------------------------------------------
    async def provider_joins(self) -> Wallet:
        self.scene("1. A provider registers and adds a machine")
        wallet = await self.stage.wallet()
        reply = await self.say(PROVIDER, f"/register {wallet.address}")
        await self.tap_link(reply, wallet, PROVIDER)
        self.narrate("the wallet signs the one-time challenge (personal_sign); rigshare checks it")
        await self.until(
            "the provider registration", lambda: self.chat.got(PROVIDER, "provider_registered")
        )
        reply = await self.say(PROVIDER, "/addmachine rig1 region=eu")
        match = TOKEN.search(reply.text)
        if match is None:
            raise DemoFailed("no agent token in the /addmachine reply")
        self.narrate("the provider runs the agent command on the GPU host (here: --simulate 4090)")
        self.stage.host.start_agent(match.group(0))
        await self.until("the agent's first heartbeat", self._machine_online)
        self.narrate("the agent is online and reported its GPU")
        await self.say(PROVIDER, "/price rig1 0.39")
        await self.say(PROVIDER, "/machines")
        return wallet

    async def _machine_online(self) -> bool:
        who = await self.chat.principal(PROVIDER)
        machines = await self.app.providers.machines(who)
        return any(m.status == "online" and m.gpus for m in machines)

    async def renter_rents(self) -> Wallet:
        self.scene("2. A renter finds a GPU and pays with one signature")
        wallet = await self.stage.wallet(usdc=50)
        self.figures.renter_start = await self.app.escrow.balance_of(wallet.address)
        await self.say(RENTER, "/gpus")
        await self.say(RENTER, "/rent 4090 3h")
        reply = await self.say(RENTER, "Confirm")
        await self.tap_link(reply, wallet, RENTER)
        self.narrate("one request in the wallet: the USDC deposit authorization (EIP-3009)")
        await self.until("the SSH credentials", lambda: self.chat.got(RENTER, "credentials"))
        self.figures.signed_at = wallet.signed_at[0] if wallet.signed_at else None
        return wallet

    async def login(self) -> None:
        self.scene("3. The renter logs in")
        host = self.stage.host
        if not host.real:
            self.narrate("simulated host: there is no instance to log into on this machine")
            return
        key = self.chat.private_key(RENTER)
        access = self.chat.payload(RENTER, "credentials")
        output = await login_and_check(access, key)
        self.figures.login_at = time.monotonic()
        self.out(f"$ ssh -p {access['port']} {access['username']}@{access['host']}")
        for line in output.strip().splitlines():
            self.out(f"  {line}")

    async def use_and_stop(self) -> None:
        self.scene("4. Status, extend, stop")
        self.stage.clock.advance(47 * 60)
        self.narrate("47 minutes later")
        await self.say(RENTER, "/status")
        await self.say(RENTER, "/extend 1h")
        await self.until("the extension", lambda: self.chat.got(RENTER, "extended"))
        self.stage.clock.advance(31 * 60)
        self.narrate("another 31 minutes later the job is done")
        await self.say(RENTER, "/stop")
        await self.until("the receipt", lambda: self.chat.got(RENTER, "receipt"))
        await self.say(RENTER, "/rate 5 fast and exactly as listed")

    async def outage_and_dispute(self) -> None:
        self.scene("4. The host goes dark; the renter disputes")
        host = self.stage.host
        await self.work_for(5 * 60)
        self.narrate("the renter's job runs for 5 minutes; the agent reports every beat")
        await host.stop_agent()
        self.stage.clock.advance(12 * 60)
        self.narrate("the GPU host is unreachable for 12 minutes, then comes back")
        host.start_agent()
        rental = await self.chat.rental_of(RENTER)
        await self.until("the heartbeat after the outage", lambda: self._gap_recorded(rental.id))
        await self.say(RENTER, "/dispute the machine was unreachable for 12 minutes")
        await self.until("the dispute on chain", lambda: self.chat.got(RENTER, "dispute_opened"))
        self.stage.clock.advance(self.app.lifecycle.rules.arbiter_delay_s)
        self.narrate(
            "the arbiter decides from the evidence (the keeper's next pass): the heartbeats, "
            "and the service's own checks of the host, which weigh over what its agent says"
        )
        await self.app.keeper.tick()
        await self.until("the decision", lambda: self.chat.got(RENTER, "dispute_resolved"))

    async def work_for(self, seconds: int, step: int = 20) -> None:
        """Let ``seconds`` of rental time pass in steps shorter than a heartbeat coverage,
        each confirmed by a beat of the agent: the evidence shows a healthy machine."""
        for _ in range(seconds // step):
            self.stage.clock.advance(step)
            target = self.stage.clock.now()
            await self.until("a heartbeat", lambda t=target: self._beat_since(t), limit_s=10)

    async def _beat_since(self, t: int) -> bool:
        who = await self.chat.principal(PROVIDER)
        machines = await self.app.providers.machines(who)
        return any((m.last_heartbeat_at or 0) >= t for m in machines)

    async def _gap_recorded(self, rental_id: int) -> bool:
        evidence = await self.app.agent_commands.evidence(rental_id)
        return any(e.kind == "heartbeat_gap" for e in evidence)

    async def settle_figures(self, renter: Wallet, provider: Wallet) -> None:
        self.scene("5. Figures")
        rental = await self.chat.rental_of(RENTER)
        f = self.figures
        if f.signed_at is not None and f.login_at is not None:
            self.out(
                f"signature -> working SSH login: {f.login_at - f.signed_at:.2f} s (goal <= 3 s)"
            )
        elif f.signed_at is not None:
            self.out("signature -> working SSH login: n/a (simulated host)")
        if self.chat.got(RENTER, "dispute_decided"):
            d = self.chat.payload(RENTER, "dispute_decided")
            f.renter_credit = d["renter_credit"]
            self.out(
                f"dispute: the provider keeps {format_usdc(d['provider_gross'])} of the "
                f"{format_usdc(d['billed'])} bill; {format_usdc(d['renter_credit'])} back to "
                "the renter for the time the evidence shows down or unchecked"
            )
        gas = await rental_gas(self.app, rental.escrow_id)
        self.out(f"gas used by the rental on chain: {gas:,}")
        check = await money_check(self.app, rental, renter.address, f.renter_start)
        for line in check.lines:
            self.out(line)
        places = places_for(rental.provider_net, rental.fee, rental.refund, rental.deposit)
        self.out(
            f"split: provider {format_usdc(rental.provider_net, places)} + platform fee "
            f"{format_usdc(rental.fee, places)} + refund {format_usdc(rental.refund, places)} "
            f"= deposit {format_usdc(rental.deposit, places)}"
        )
        f.gas, f.conserved = gas, check.ok
        if not check.ok:
            raise DemoFailed("money is not conserved")


async def run_demo(
    out: Callable[[str], None] = print,
    *,
    dispute: bool = False,
    engine: DemoEngine | None | str = "env",
) -> Figures:
    """Play the story; raises DemoFailed when a step does not happen. ``engine`` is where
    the instance runs ("env": ``RIGSHARE_DEMO_ENGINE`` or Docker's default socket)."""
    chosen = engine_from_env() if engine == "env" else engine
    stage = await build_stage(arbiter_delay_s=60, engine=chosen)  # type: ignore[arg-type]
    try:
        out("rigshare demo — everything runs on this machine:")
        for note in stage.notes:
            out(f"  · {note}")
        story = Story(stage, out)
        provider = await story.provider_joins()
        renter = await story.renter_rents()
        await story.login()
        if dispute:
            await story.outage_and_dispute()
        else:
            await story.use_and_stop()
        await story.settle_figures(renter, provider)
        return story.figures
    finally:
        await stage.close()


async def login_and_check(access: dict, private_key: str) -> str:
    """Log in as the renter with the issued key, checking the host key fingerprint first."""
    from rigshare_dev.demo.terminal import ssh_run

    return await ssh_run(access, private_key)
