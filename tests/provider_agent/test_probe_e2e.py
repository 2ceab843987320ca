"""The service probes a real agent on a real container engine: the installed
``rigshare-agent`` starts the probe instance on its idle fake GPUs with the service's key, the
service logs in over SSH to the advertised host with its own key (asyncssh, bot/probe_ssh.py),
finds the host key the agent reported and sees the GPUs by UUID through the image's
nvidia-smi (a stand-in that names the GPU nodes the container sees: tests/engine/gpu_tools.py).
The listing becomes verified; the probe instance is removed afterwards."""

from __future__ import annotations

import pytest

from bot.probe_ssh import AsyncsshHostProber
from provider_agent.engine_api import EngineClient
from provider_agent.simulated_probe import simulated_uuid
from tests.provider_agent.test_agent_instances_e2e import _agent, _stop
from tests.support import register_provider
from tests.waiting import eventually

pytestmark = pytest.mark.engine


async def test_the_service_verifies_a_real_agent_by_its_own_login(served, docker_engine, tmp_path):
    app, server = served
    app.probes.prober = AsyncsshHostProber(data_dir=tmp_path / "service")
    prov = await app.users.identify("terminal", "host", "host")
    await register_provider(app, prov)
    view = await app.providers.add_machine(prov, "rig", "eu")
    agent = await _agent(server.url, view.token, docker_engine, tmp_path)
    engine = EngineClient(str(docker_engine.socket_path))
    logs, probe = "", None

    async def listings():
        async with app.rentals.uow(readonly=True) as uow:
            return list(await uow.listings.for_machine(view.machine_id))

    async def decided():
        await app.probes.tick()
        async with app.rentals.uow(readonly=True) as uow:
            return await uow.probes.last_finished(view.machine_id)

    try:
        await eventually(listings, 30)
        assert not (await listings())[0].verified  # the agent's report alone: unverified
        probe = await eventually(decided, 90)
        assert probe.status == "passed", probe.reason
        assert sorted(probe.gpu_uuids) == sorted([simulated_uuid(0), simulated_uuid(1)])
        [listing] = await listings()
        assert listing.verified

        async def removed():
            await app.probes.tick()  # queues the unprobe
            return not await engine.containers({"rigshare.rental": f"probe-{probe.id}"})

        await eventually(removed, 30)

        # the agent reports a fingerprint other than its instance's real key: not verified
        lie = await _probe_answered_with(app, view.machine_id, "SHA256:" + "L" * 43)
        failed = await eventually(decided, 30)
        assert failed.id == lie and failed.status == "failed", failed.reason
        assert "host key mismatch" in failed.reason and failed.seen_fingerprint
        [listing] = await listings()
        assert not listing.verified
        async with app.rentals.uow(readonly=True) as uow:
            assert (await uow.machines.get(view.machine_id)).status == "failing"
    finally:
        logs = await _stop(agent)
        await engine.close()
    assert f"probe {probe.id}: instance up" in logs


async def _probe_answered_with(app, machine_id: int, fingerprint: str) -> int:
    """Ask for another probe (as /resume does) and, once the real agent answered it, make
    its answer claim ``fingerprint``: what a lying agent would report."""
    async with app.rentals.uow() as uow:
        (await uow.machines.get(machine_id)).probe_requested_at = app.clock.now()
        await uow.commit()
    assert await app.probes.start_if_due(machine_id)

    async def answered():
        async with app.rentals.uow() as uow:
            probe = await uow.probes.open_for(machine_id)
            if probe is None or probe.status != "answered":
                return None
            # replaced whole: the mapping stores a new value, not one changed in place
            access = {**probe.answer["access"], "host_key_fingerprint": fingerprint}
            probe.answer = {**probe.answer, "access": access}
            await uow.commit()
            return probe.id

    return await eventually(answered, 30)
