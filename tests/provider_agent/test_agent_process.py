"""The installed ``rigshare-agent`` command as a provider runs it, against the real service."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import pytest
from aiohttp import web

from bot.bootstrap import build_app
from bot.settings import Settings
from bot.web.app import WebServer
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from core.wire import Heartbeat, ResultBatch
from provider_agent.client import ServiceClient
from provider_agent.errors import RequestRejected, ServiceUnreachable, TokenRefused
from provider_agent.ssh_access import AccessInfo
from provider_agent.ssh_keys import generate_keypair
from provider_agent.sshd_harness import PrivateSshd
from tests.provider_agent import sshclient
from tests.provider_agent.waiting import eventually
from tests.support import register_provider


@pytest.fixture
async def served(tmp_path):
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/agent.sqlite3")
    app = build_app(settings, agents="http", auto_approve=True)
    await app.start()
    server = await WebServer(app).start()
    try:
        yield app, server
    finally:
        await server.stop()
        await app.close()


async def _agent(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provider_agent.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_refused_token_exits_4_with_a_clear_message(served, tmp_path):
    _, server = served
    host_key = tmp_path / "host.pub"
    host_key.write_text(generate_keypair("host").public_key)
    proc = await _agent(
        *("--server", server.url, "--token", "rsa_wrong", "--simulate", "4090"),
        *("--mode", "shared", "--shared-user", "root", "--host-key", str(host_key)),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 4
    assert "refused the agent token" in err.decode() and "rsa_wrong" not in err.decode()


async def test_installed_agent_grants_shared_account_access(
    served, sshd: PrivateSshd, shared_user: str
):
    app, server = served
    prov = await app.users.identify("terminal", "host", "host")
    await register_provider(app, prov)
    token = (await app.providers.add_machine(prov, "rig", "eu")).token
    keys = sshd.keys_dir / shared_user
    proc = await _agent(
        *("--server", server.url, "--token", token, "--simulate", "4090", "--interval", "1"),
        *("--mode", "shared", "--shared-user", shared_user, "--authorized-keys", str(keys)),
        *("--ssh-host", sshd.host, "--ssh-port", str(sshd.port)),
        *("--host-key", str(sshd.host_key_pub), "--ssh-log", str(sshd.log_path)),
    )
    try:

        async def priced():
            try:
                return await app.providers.set_price(prov, "rig", 390_000, None)
            except Exception:
                return None

        await eventually(priced, 15)
        renter_key = generate_keypair("renter")
        alice = await app.users.identify("terminal", "alice", "alice")
        await app.users.set_ssh_key(alice, renter_key.public_key)
        quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
        await app.rentals.confirm(alice, quote.rental_id)

        async def active():
            async with app.rentals.uow(readonly=True) as uow:
                r = await uow.rentals.get(quote.rental_id)
            return r if r.state == RentalState.ACTIVE else None

        r = await eventually(active, 10)
        access = AccessInfo(r.access_username, sshd.host, sshd.port, sshd.fingerprint)
        assert r.access_username == shared_user
        assert await sshclient.run(access, renter_key.private_key) == f"{shared_user}\n"
        await app.rentals.stop(alice, None)
        assert await sshclient.refused_within(access, renter_key.private_key, 5.0) is not None
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        keys.unlink(missing_ok=True)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert time.monotonic() - started < 5


async def test_client_maps_answers_to_errors():
    async def answer(request: web.Request) -> web.Response:
        status = int(request.query.get("s", "200") if request.method == "GET" else "500")
        headers = {"Retry-After": "3"} if status == 429 else {}
        return web.json_response({"reason": f"status {status}"}, status=status, headers=headers)

    api = web.Application()
    api.router.add_route("*", "/agent/v1/{tail:.*}", answer)
    runner = web.AppRunner(api)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = ServiceClient(url, "rsa_secret", timeout=2)
    try:
        for status, error in ((401, TokenRefused), (422, RequestRejected), (429, None)):
            client._base = f"{url}/agent/v1"
            with pytest.raises(error or ServiceUnreachable) as caught:
                await client._call("GET", f"/x?s={status}", ResultBatch)
            if status == 429:
                assert caught.value.retry_after == 3.0
        with pytest.raises(ServiceUnreachable, match="500"):
            await client.results(ResultBatch())
        assert "rsa_secret" not in repr(client)
    finally:
        await client.close()
        await runner.cleanup()
    beat = Heartbeat(agent_version="t", seq=1, sent_at=1, gpus=[])
    async with ServiceClient(url, "t", timeout=2) as gone:  # the server is gone now
        with pytest.raises(ServiceUnreachable):
            await gone.heartbeat(beat)
