"""End to end on a real OpenSSH server: the real agent daemon talks HTTP to the real service.

A rental is confirmed and paid (development wallet and escrow from the bootstrap); the agent
grants, a renter logs in with the issued key; the service is stopped and restarted and the
agent resends what it buffered; /stop revokes and the login fails within 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bot.bootstrap import App, build_app
from bot.settings import Settings
from bot.web.app import WebServer
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from provider_agent.client import ServiceClient
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import SshEndpoint
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_probe import SimulatedProbe
from provider_agent.ssh_access import AccessInfo
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import KeyPair, generate_keypair
from provider_agent.sshd_harness import PrivateSshd
from tests.provider_agent import sshclient
from tests.provider_agent.waiting import eventually, holds
from tests.support import register_provider

PRICE = 390_000


@pytest.fixture
async def service(tmp_path):
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/e2e.sqlite3")
    app = build_app(settings, agents="http", auto_approve=True)
    await app.start()
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
def accounts(sshd: PrivateSshd, probe_pair: KeyPair):
    home = sshd.dir / "home"
    home.mkdir(mode=0o755, exist_ok=True)
    return PerRentalAccounts(
        host=sshd.host,
        port=sshd.port,
        host_key=sshd.host_key_pub,
        keys_dir=sshd.keys_dir,
        home_root=home,
        probe_public_key=probe_pair.public_key,
    )


def _daemon(url: str, token: str, sshd: PrivateSshd, accounts, probe_pair) -> AgentDaemon:
    executor = CommandExecutor(
        accounts,
        selftest=SshSelfTest(probe_pair.private_key, fallback_command="true"),
        ssh_log_path=sshd.log_path,
    )
    return AgentDaemon(
        ServiceClient(url, token),
        SimulatedProbe("4090"),
        executor,
        endpoint=SshEndpoint(sshd.host, sshd.port, sshd.fingerprint),
        timing=AgentTiming(interval_s=0.25, poll_wait_s=5, backoff_first_s=0.1, backoff_max_s=0.3),
    )


async def _rental(app: App, rental_id: int):
    async with app.rentals.uow(readonly=True) as uow:
        return await uow.rentals.get(rental_id)


async def test_paid_rental_gets_working_ssh_survives_restart_and_is_revoked(
    service: App, sshd: PrivateSshd, accounts: PerRentalAccounts, probe_pair: KeyPair
):
    app = service
    server = await WebServer(app).start()
    prov = await app.users.identify("terminal", "gpuhost", "gpuhost")
    await register_provider(app, prov)
    token = (await app.providers.add_machine(prov, "rig1", "eu")).token
    daemon = _daemon(server.url, token, sshd, accounts, probe_pair)
    agent = asyncio.create_task(daemon.run())
    rental_id = None
    try:
        # the agent's first heartbeat reports the GPU: a verified listing appears
        async def listed():
            with contextlib.suppress(Exception):
                return await app.providers.set_price(prov, "rig1", PRICE, None)

        await eventually(listed)

        renter_key = generate_keypair("renter")
        alice = await app.users.identify("terminal", "alice", "alice")
        await app.users.set_ssh_key(alice, renter_key.public_key)
        quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
        rental_id = quote.rental_id
        paid = time.monotonic()
        await app.rentals.confirm(alice, rental_id)  # the development wallet signs at once

        async def active():
            r = await _rental(app, rental_id)
            return r if r.state == RentalState.ACTIVE else None

        r = await eventually(active)
        assert time.monotonic() - paid < 5.0
        assert r.host_key_fingerprint == sshd.fingerprint
        assert (r.access_host, r.access_port) == (sshd.host, sshd.port)
        access = AccessInfo(r.access_username, sshd.host, sshd.port, sshd.fingerprint)
        assert await sshclient.run(access, renter_key.private_key) == f"{r.access_username}\n"
        session = await sshclient.connect(access, renter_key.private_key).__aenter__()
        sleeper = await session.create_process("sleep 60")
        kinds = [e.kind for e in await app.agent_commands.evidence(rental_id)]
        assert kinds == ["selftest"]

        # the service goes away; the agent buffers heartbeats and resends them afterwards
        port = server.port
        await server.stop()
        await eventually(lambda: holds(len(daemon.buffer) >= 2))
        server = await WebServer(app, port=port).start()
        await eventually(lambda: holds(daemon.stats.beats_resent >= 2 and not daemon.buffer))
        gaps = [
            e.data
            for e in await app.agent_commands.evidence(rental_id)
            if e.kind == "heartbeat_gap" and e.data["source"] == "agent"
        ]
        assert len(gaps) >= 2 and all(g["queued_s"] >= 1 for g in gaps)

        # /stop -> revoke through the restarted service -> login refused, session closed
        await app.rentals.stop(alice, None)
        stopped = await sshclient.refused_within(access, renter_key.private_key, 5.0)
        assert stopped is not None, "login still works 5 s after /stop"
        await asyncio.wait_for(sleeper.wait_closed(), 5)
        session.close()

        async def logged():
            return [e for e in await app.agent_commands.evidence(rental_id) if e.kind == "ssh_log"]

        [log_evidence] = await eventually(logged)
        assert r.access_username in log_evidence.data["lines"]
        assert "PRIVATE KEY" not in log_evidence.data["lines"]
        assert (await _rental(app, rental_id)).state == RentalState.SETTLED
        assert rental_id and str(rental_id) not in await accounts.accounts()
        assert not agent.done()
    finally:
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent
        await server.stop()
        if rental_id is not None:
            await accounts.cleanup(str(rental_id))
