"""The installed ``rigshare-agent`` as a provider runs it, against the real service and a real
container engine: a rental becomes an instance with exactly its GPU, the renter logs in with
the credentials' host key, /extend reaches the instance, /stop removes it, and an agent
restarted in the middle finds its instance again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncssh
import pytest

from core.domain.instances import InstanceAsk
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from provider_agent.access import AccessInfo
from provider_agent.engine_api import EngineClient
from provider_agent.ssh_keys import generate_keypair
from tests.provider_agent import sshclient
from tests.support import register_provider
from tests.waiting import eventually

pytestmark = pytest.mark.engine


def _config(engine, state_dir: Path) -> str:
    templates = "".join(
        f'[[images.template]]\nname = "{name}"\nimage = "{ref}"\ntitle = "{name} (test)"\n'
        f"jupyter = {'true' if name == 'jupyter' else 'false'}\n\n"
        for name, ref in engine.images.items()
    )
    return (
        "[engine]\n"
        f'socket = "{engine.socket_path}"\n'
        'gpu_binding = "devices"\n'
        f'device_dir = "{engine.device_dir}"\n'
        f'publish_ip = "{engine.host_address}"\n'
        f'engine_netns = "{engine.netns}"\n'
        f'state_dir = "{state_dir}"\n\n'
        '[images]\ndefault = "base"\nmax_ports = 2\n\n' + templates
    )


async def _agent(server_url: str, token: str, engine, tmp_path: Path) -> asyncio.subprocess.Process:
    config = tmp_path / "agent.toml"
    config.write_text(_config(engine, tmp_path / "agent-state"))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "provider_agent.cli", "--server", server_url, "--simulate", "4090x2"),
        *("--config", str(config), "--ssh-host", engine.host_address, "--interval", "1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RIGSHARE_AGENT_TOKEN": token},
    )


async def _stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return err.decode()


async def test_a_rental_is_a_container_from_confirm_to_stop(served, docker_engine, tmp_path):
    app, server = served
    prov = await app.users.identify("terminal", "host", "host")
    await register_provider(app, prov)
    token = (await app.providers.add_machine(prov, "rig", "eu")).token
    agent = await _agent(server.url, token, docker_engine, tmp_path)
    engine = EngineClient(str(docker_engine.socket_path))
    logs = ""
    try:

        async def priced():
            try:
                return await app.providers.set_price(prov, "rig", 390_000, None)
            except Exception:
                return None

        await eventually(priced, 30)
        renter_key = generate_keypair("renter")
        alice = await app.users.identify("terminal", "alice", "alice")
        await app.users.set_ssh_key(alice, renter_key.public_key)
        ask = InstanceAsk(template="pytorch")
        quote = await app.market.quote(alice, ListingQuery(model="rtx4090", instance=ask), 3600)
        await app.rentals.confirm(alice, quote.rental_id)

        async def rental_in(state):
            async def check():
                async with app.rentals.uow(readonly=True) as uow:
                    r = await uow.rentals.get(quote.rental_id)
                return r if r.state == state else None

            return check

        r = await eventually(await rental_in(RentalState.ACTIVE), 60)
        access = AccessInfo(r.access_username, r.access_host, r.access_port, r.host_key_fingerprint)
        assert access.username == "root" and access.host == docker_engine.host_address
        # the credentials' fingerprint is the instance's own key (sshclient pins ed25519)
        async with sshclient.connect(access, renter_key.private_key) as conn:
            seen = conn.get_server_host_key().get_fingerprint("sha256")
            nodes = (await conn.run("cd /dev && echo nvidia[0-9]*", check=True)).stdout.split()
        assert seen == access.host_key_fingerprint
        assert len(nodes) == 1  # one GPU rented of the host's two
        [container] = await engine.containers({"rigshare.rental": str(r.id)})
        assert container["Labels"]["rigshare.image"] == docker_engine.images["pytorch"]

        # the agent dies and comes back: it finds the instance and leaves it running
        logs = await _stop(agent)
        agent = await _agent(server.url, token, docker_engine, tmp_path)
        await asyncio.sleep(3)
        assert (
            await sshclient.run(access, renter_key.private_key, "echo alive")
        ).strip() == "alive"

        await app.rentals.extend(alice, None, 3600)
        deadline_file = tmp_path / "agent-state" / "instances" / str(r.id) / "deadline"

        async def extended():
            return int(deadline_file.read_text()) >= (r.paid_until or 0) + 3600

        await eventually(extended, 30)
        await app.rentals.stop(alice, None)

        async def removed():
            return not await engine.containers({"rigshare.rental": str(r.id)})

        await eventually(removed, 30)
        with pytest.raises((OSError, asyncssh.Error)):
            await sshclient.run(access, renter_key.private_key, "true")
    finally:
        logs += await _stop(agent)
        await engine.close()
    assert "rsa_" not in logs  # the token is never logged
    assert f"rental {r.id}: granted" in logs and f"rental {r.id}: revoked" in logs
    assert "self-test failed" not in logs  # also the extension's self-test passed
