"""The service's probes over the real agent API: the agent answers probe commands like any
other, but evidence of the kind "service_probe" is the service's alone (an agent's is
refused with 422, nothing stored), and a probe's answer never touches a rental, even one
whose id equals the probe's."""

from __future__ import annotations

import aiohttp
import pytest

from core.domain.rentals import RentalState
from tests.bot.agent_support import add_host, fund_rental, snapshot
from tests.probing import probed_heartbeat, use_fake_hosts
from tests.support import rental_row


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(http, server, host, body) -> tuple[int, dict]:
    async with http.post(f"{server.url}/agent/v1/results", json=body, headers=host.auth) as resp:
        return resp.status, await resp.json()


async def test_an_agent_cannot_submit_service_probe_evidence(http_app, server, http, clock):
    host = await add_host(http_app)
    rental_id = await fund_rental(http_app)
    forged = {"kind": "service_probe", "at": clock.now(), "rental_id": rental_id}
    [grant] = (await http_app.agent_commands.pending(host.machine_id, 0)).commands
    before = await snapshot(http_app)
    status, answer = await _post(http, server, host, {"evidence": [{**forged, "data": {}}]})
    assert status == 422 and "evidence" in answer["reason"]
    inside = {"command_id": grant.id, "ok": False, "error": "x", "evidence": [forged]}
    status, _ = await _post(http, server, host, {"results": [inside]})
    assert status == 422
    assert await snapshot(http_app) == before
    assert await http_app.agent_commands.evidence(rental_id) == []


async def test_a_probe_answer_touches_no_rental(http_app, server, http, clock):
    host = await add_host(http_app)
    await http_app.agents.heartbeat(host.machine_id, probed_heartbeat(["rtx4090", "rtx4090"], 2))
    rental_id = await fund_rental(http_app)  # holds GPU 0, waits in provisioning
    use_fake_hosts(http_app)
    assert (await http_app.probes.tick())["started"] == 1
    cmds = (await http_app.agent_commands.pending(host.machine_id, 0)).commands
    [probe] = [c for c in cmds if c.kind == "probe"]
    assert probe.rental_id == rental_id  # probe 1, rental 1: apart by the command's kind
    assert probe.instance.gpu_uuids == ["GPU-0001-rtx4090"]
    access = {
        "username": "root",
        "host": "127.0.0.1",
        "port": 40_000,
        "host_key_fingerprint": "SHA256:" + "B" * 43,
    }
    ev = {"kind": "selftest", "at": clock.now(), "data": {"success": True}}
    answer = {"command_id": probe.id, "ok": True, "access": access, "evidence": [ev]}
    status, ack = await _post(http, server, host, {"results": [answer]})
    assert status == 200 and ack == {"accepted": [probe.id], "ignored": [], "evidence_stored": 0}
    r = await rental_row(http_app, rental_id)
    assert r.state == RentalState.PROVISIONING and r.access_host is None  # not granted by it
    assert await http_app.agent_commands.evidence(rental_id) == []
    async with http_app.uow(readonly=True) as uow:
        stored = await uow.probes.get(probe.rental_id)
    assert stored.status == "answered"
