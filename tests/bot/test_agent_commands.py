"""The command channel over real HTTP: long-poll delivery, results applied once, evidence."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.bootstrap import build_app
from core.domain.rentals import RentalState
from core.errors import NotFound
from core.ports import AccessGrant
from tests.bot.agent_support import (
    add_host,
    backdate,
    beat_json,
    fund_rental,
    snapshot,
)
from tests.support import rental_row, renter
from tests.waiting import eventually, holds

ACCESS = {
    "username": "rs-1",
    "host": "127.0.0.1",
    "port": 2222,
    "host_key_fingerprint": "SHA256:" + "A" * 43,
}


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _poll(http, server, host, after=0, wait=10.0) -> dict:
    url = f"{server.url}/agent/v1/commands?after={after}&wait={wait}"
    async with http.get(url, headers=host.auth) as resp:
        assert resp.status == 200
        return await resp.json()


async def _post(http, server, host, body) -> tuple[int, dict]:
    async with http.post(f"{server.url}/agent/v1/results", json=body, headers=host.auth) as resp:
        return resp.status, await resp.json()


def _ok(command_id: int, **extra) -> dict:
    return {"command_id": command_id, "ok": True, "access": {**ACCESS}, **extra}


async def test_long_poll_delivers_a_grant_within_a_second(http_app, server, http, clock):
    host = await add_host(http_app)
    poll = asyncio.create_task(_poll(http, server, host))
    await asyncio.sleep(0.3)
    assert not poll.done()
    queued = time.monotonic()
    grant = AccessGrant(7, host.machine_id, "ssh-ed25519 AAAAC3Nza", clock.now() + 3600)
    await http_app.agent_gateway.grant(grant)
    batch = await poll
    assert time.monotonic() - queued < 1.0
    [cmd] = batch["commands"]
    assert cmd["kind"] == "grant" and cmd["rental_id"] == 7 and cmd["seq"] == 1
    assert cmd["expires_at"] == grant.expires_at
    assert cmd["valid_until"] == clock.now() + http_app.rentals.rules.accept_timeout_s
    # seen: not handed out again after its seq, but again to a restarted agent (after=0)
    assert (await _poll(http, server, host, after=1, wait=0))["commands"] == []
    assert [c["id"] for c in (await _poll(http, server, host, wait=0))["commands"]] == [cmd["id"]]


async def test_a_command_queued_by_another_process_is_delivered(
    http_app, server, http, settings, clock
):
    host = await add_host(http_app)
    other = build_app(settings, clock=clock, agents="http")  # a second service process
    try:
        poll = asyncio.create_task(_poll(http, server, host))
        await asyncio.sleep(0.2)
        queued = time.monotonic()
        await other.agent_gateway.revoke(host.machine_id, 9)
        batch = await poll
        assert time.monotonic() - queued < 1.0
        assert [c["kind"] for c in batch["commands"]] == ["revoke"]
    finally:
        await other.close()


async def test_grant_result_activates_the_rental_once(http_app, server, http, clock):
    host = await add_host(http_app)
    rental_id = await fund_rental(http_app)
    assert (await rental_row(http_app, rental_id)).state == RentalState.PROVISIONING
    [cmd] = (await _poll(http, server, host, wait=0))["commands"]
    assert cmd["rental_id"] == rental_id and cmd["public_key"].startswith("ssh-ed25519 ")
    clock.advance(12)
    evidence = {"kind": "selftest", "at": clock.now(), "data": {"success": True, "latency_ms": 80}}
    body = {"results": [_ok(cmd["id"], evidence=[evidence])]}
    status, ack = await _post(http, server, host, body)
    assert status == 200 and ack == {"accepted": [cmd["id"]], "ignored": [], "evidence_stored": 1}
    await http_app.settle()
    r = await rental_row(http_app, rental_id)
    assert r.state == RentalState.ACTIVE and r.access_username == "rs-1"
    assert r.access_granted_at - r.funded_at == 12  # the response time reliability uses
    await backdate(http_app, host.machine_id)
    # full uptime, default rating, clean record, answered in 12 s: full response marks
    assert (
        await http_app.agents.refresh_reliability(host.machine_id)
        == (10_000 * 45 + 8_000 * 20 + 10_000 * 20 + 10_000 * 15) // 100
    )
    before = await snapshot(http_app)
    status, ack = await _post(http, server, host, body)  # replayed
    assert status == 200 and ack == {"accepted": [], "ignored": [cmd["id"]], "evidence_stored": 0}
    assert await snapshot(http_app) == before
    assert (await _poll(http, server, host, wait=0))["commands"] == []

    alice = await renter(http_app)
    [ev] = await http_app.agent_commands.evidence_for(alice, rental_id)
    assert (ev.kind, ev.data) == ("selftest", {"success": True, "latency_ms": 80})
    mallory = await renter(http_app, "mallory")
    with pytest.raises(NotFound):
        await http_app.agent_commands.evidence_for(mallory, rental_id)


async def test_failed_grant_refunds_and_foreign_results_are_ignored(http_app, server, http):
    host, other = await add_host(http_app), await add_host(http_app, "other", ("h100",))
    rental_id = await fund_rental(http_app)
    [cmd] = (await _poll(http, server, host, wait=0))["commands"]
    before = await snapshot(http_app)
    status, ack = await _post(http, server, other, {"results": [_ok(cmd["id"])]})
    assert status == 200 and ack["ignored"] == [cmd["id"]]
    assert await snapshot(http_app) == before
    # a successful grant without access details breaks the protocol: 422, nothing stored
    bad = {"results": [{"command_id": cmd["id"], "ok": True}]}
    status, answer = await _post(http, server, host, bad)
    assert status == 422 and "access" in answer["reason"]
    assert await snapshot(http_app) == before
    failed = {"results": [{"command_id": cmd["id"], "ok": False, "error": "useradd failed"}]}
    status, ack = await _post(http, server, host, failed)
    assert status == 200 and ack["accepted"] == [cmd["id"]]
    await http_app.settle()
    r = await rental_row(http_app, rental_id)
    assert r.state == RentalState.CANCELLED and r.refund == r.deposit
    await backdate(http_app, host.machine_id)
    # never provisioned: the worst response time, 0 for that component
    assert (
        await http_app.agents.refresh_reliability(host.machine_id)
        == (10_000 * 45 + 8_000 * 20 + 10_000 * 20 + 0 * 15) // 100
    )


async def test_stale_commands_are_not_handed_out_and_revoke_drops_an_unsent_grant(
    http_app, server, http, clock
):
    host = await add_host(http_app)
    await http_app.agent_gateway.grant(AccessGrant(5, host.machine_id, "k" * 20, clock.now() + 60))
    clock.advance(http_app.rentals.rules.accept_timeout_s + 1)
    assert (await _poll(http, server, host, wait=0))["commands"] == []

    await http_app.agent_gateway.grant(AccessGrant(6, host.machine_id, "k" * 20, clock.now() + 60))
    await http_app.agent_gateway.revoke(host.machine_id, 6)
    batch = await _poll(http, server, host, wait=0)
    assert [(c["kind"], c["rental_id"], c["seq"]) for c in batch["commands"]] == [("revoke", 6, 3)]
    assert batch["commands"][0]["valid_until"] >= clock.now() + 60 + 86_400


async def test_evidence_for_another_machines_rental_is_not_stored(http_app, server, http, clock):
    host, other = await add_host(http_app), await add_host(http_app, "other", ("h100",))
    rental_id = await fund_rental(http_app)
    ev = {"kind": "ssh_log", "at": clock.now(), "rental_id": rental_id, "data": {"lines": "x"}}
    status, ack = await _post(http, server, other, {"evidence": [ev]})
    assert status == 200 and ack["evidence_stored"] == 0
    status, ack = await _post(http, server, host, {"evidence": [ev]})
    assert status == 200 and ack["evidence_stored"] == 1
    status, answer = await _post(http, server, host, {"evidence": [{**ev, "rental_id": None}]})
    assert status == 422


async def test_heartbeat_gaps_become_evidence_of_running_rentals(http_app, server, http, clock):
    host = await add_host(http_app)
    rental_id = await fund_rental(http_app)
    [cmd] = (await _poll(http, server, host, wait=0))["commands"]
    await _post(http, server, host, {"results": [_ok(cmd["id"])]})
    await http_app.settle()
    url = f"{server.url}/agent/v1/heartbeat"
    clock.advance(100)  # silent for 100 s
    async with http.post(url, json=beat_json(seq=9), headers=host.auth) as resp:
        assert resp.status == 200
    late = beat_json(seq=5, queued_s=60)  # resent from the agent's outage buffer
    async with http.post(url, json=late, headers=host.auth) as resp:
        assert resp.status == 200
    kinds = [(e.kind, e.data["source"]) for e in await http_app.agent_commands.evidence(rental_id)]
    assert kinds == [("heartbeat_gap", "service"), ("heartbeat_gap", "agent")]
    gap, beat = await http_app.agent_commands.evidence(rental_id)
    assert gap.data["silent_s"] == 100 and beat.data["seq"] == 5 and beat.data["queued_s"] == 60


async def test_simulated_hosts_answer_commands_when_grants_go_over_http(http_app):
    from rigshare_dev.simulation import answer_commands, seed_market

    [host, *_] = await seed_market(http_app, 1)
    rental_id = await fund_rental(http_app)
    assert (await rental_row(http_app, rental_id)).state == RentalState.PROVISIONING
    [grant] = (await http_app.agent_commands.pending(host.machine_id, 0)).commands
    assert grant.instance.image == "docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
    assert len(grant.instance.gpu_uuids) == 1
    assert await answer_commands(http_app, host) == 1
    r = await rental_row(http_app, rental_id)
    # the simulated host runs the instance as root with exactly the rented GPU
    assert r.state == RentalState.ACTIVE and r.access_username == "root"
    assert r.gpu_uuids == grant.instance.gpu_uuids
    assert await answer_commands(http_app, host) == 0


async def test_idle_long_polls_do_not_read_the_database(http_app, server, http, clock):
    host = await add_host(http_app)
    reads = []
    real_poll = http_app.agent_commands.poll

    async def counted(*args, **kwargs):
        reads.append(args)
        return await real_poll(*args, **kwargs)

    http_app.agent_commands.poll = counted
    hub = http_app.command_hub
    await eventually(lambda: holds(not hub.may_have_commands(-1)))  # start-up scan done
    for _ in range(3):
        assert (await _poll(http, server, host, wait=0))["commands"] == []
    assert reads == []
    await http_app.agent_gateway.grant(AccessGrant(3, host.machine_id, "k" * 20, clock.now() + 60))
    [cmd] = (await _poll(http, server, host, wait=0))["commands"]
    assert len(reads) == 1
    await _post(http, server, host, {"results": [{"command_id": cmd["id"], "ok": False}]})
    await _poll(http, server, host, after=cmd["seq"], wait=0)  # reads, finds nothing open
    await _poll(http, server, host, after=cmd["seq"], wait=0)
    assert len(reads) == 2
