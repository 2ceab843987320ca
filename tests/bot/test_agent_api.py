"""The agent API over real HTTP on loopback: auth, validation, rate limits, heartbeats."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from core.domain.listings import MachineStatus
from core.services.views import Principal
from tests.bot.agent_support import add_host, beat_json, snapshot


def _many_gpus(n: int) -> dict:
    beat = beat_json()
    return {**beat, "gpus": [{**beat["gpus"][0], "index": i} for i in range(n)]}


def _offer(**changes: object) -> dict:
    beat = beat_json()
    return {**beat, "offer": {**beat["offer"], **changes}}


def _gpu(**changes: object) -> dict:
    beat = beat_json()
    return {**beat, "gpus": [{**beat["gpus"][0], **changes}]}


# valid on the wire, but not storable or not usable in an instance request
UNSTORABLE = [
    {**beat_json(), "driver_version": "5" * 65},  # longer than the column
    {**beat_json(), "cuda_version": "12." + "4" * 30},
    _gpu(uuid="GPU with spaces"),  # cannot be named in an instance request
    _gpu(uuid="GPU-" + "a" * 93),
    {**beat_json(), "gpus": [beat_json()["gpus"][0], {**beat_json()["gpus"][0], "index": 1}]},
    _offer(default_template="nope"),  # not one of its templates
    _offer(templates=[{"name": "x", "image": "Not/Lower:1", "title": "x"}]),  # not an image
    _offer(templates=[{"name": "x", "image": "a/b:1", "title": "x"}] * 2),  # named twice
]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_heartbeat_is_acknowledged_and_recorded(http_app, server, http, clock):
    host = await add_host(http_app)
    clock.advance(10)
    async with http.post(
        f"{server.url}/agent/v1/heartbeat", json=beat_json(), headers=host.auth
    ) as resp:
        assert resp.status == 200
        ack = await resp.json()
    assert ack == {"machine_id": host.machine_id, "status": "online", "next_in_s": 15}
    async with http_app.uow(readonly=True) as uow:
        m = await uow.machines.get(host.machine_id)
    assert m.last_heartbeat_at == clock.now() and m.covered_seconds == 10
    assert m.status == MachineStatus.ONLINE and m.ssh_port == 2222


async def test_missing_unknown_and_rotated_tokens_get_401(http_app, server, http):
    host = await add_host(http_app)
    url = f"{server.url}/agent/v1/heartbeat"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer rsa_nope"}):
        async with http.post(url, json=beat_json(), headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "unauthorized"
    async with http.get(
        f"{server.url}/agent/v1/commands?wait=0", headers={"Authorization": "Bearer x"}
    ) as resp:
        assert resp.status == 401

    who = await http_app.users.identify("terminal", "prov", "prov")
    fresh = await http_app.providers.rotate_token(who, "prov-box")
    assert fresh.machine_id == host.machine_id and fresh.token != host.token
    async with http.post(url, json=beat_json(), headers=host.auth) as resp:
        assert resp.status == 401, "the old token is revoked at once"
    new_auth = {"Authorization": f"Bearer {fresh.token}"}
    async with http.post(url, json=beat_json(), headers=new_auth) as resp:
        assert resp.status == 200
    with pytest.raises(Exception, match="private chat"):
        await http_app.providers.rotate_token(
            Principal(who.user_id, who.platform, private_chat=False), "prov-box"
        )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "bad_json"),
        (b"\xff\xfe", 400, "bad_json"),
        (json.dumps({**beat_json(), "extra": 1}).encode(), 422, "invalid"),
        (json.dumps({**beat_json(), "ssh_host": "a b; rm -rf /"}).encode(), 422, "invalid"),
        (json.dumps(_many_gpus(17)).encode(), 422, "invalid"),
        (json.dumps([1, 2]).encode(), 422, "invalid"),
        (b"[" + b"1," * 20_000 + b"1]", 413, "too_large"),
        *((json.dumps(beat).encode(), 422, "invalid") for beat in UNSTORABLE),
    ],
)
async def test_bad_heartbeats_get_4xx_with_a_reason_and_store_nothing(
    http_app, server, http, body, status, error
):
    host = await add_host(http_app)
    before = await snapshot(http_app)
    headers = {**host.auth, "Content-Type": "application/json"}
    async with http.post(f"{server.url}/agent/v1/heartbeat", data=body, headers=headers) as resp:
        assert resp.status == status
        answer = await resp.json()
    assert answer["error"] == error and answer["reason"]
    assert await snapshot(http_app) == before


async def test_an_unstorable_heartbeat_is_refused_for_that_agent_only(http_app, server, http):
    """Beats written together (one transaction): the bad one gets its 422, the others land."""
    bad, good = await add_host(http_app, "bad"), await add_host(http_app, "good")
    url = f"{server.url}/agent/v1/heartbeat"

    async def post(host, beat):
        async with http.post(url, json=beat, headers=host.auth) as resp:
            return resp.status, await resp.json()

    beat = beat_json(seq=3, machine={"cpu_model": "EPYC", "cpu_cores": 8, "ram_mib": 65536})
    (bad_status, refused), (good_status, _) = await asyncio.gather(
        post(bad, {**beat, "driver_version": "9" * 65}), post(good, beat)
    )
    assert (bad_status, refused["error"]) == (422, "invalid")
    assert "driver_version" in refused["reason"]
    assert good_status == 200
    async with http_app.uow(readonly=True) as uow:
        assert (await uow.machines.get(good.machine_id)).cpu_cores == 8
        assert (await uow.machines.get(bad.machine_id)).cpu_cores == 16  # its last good beat


async def test_oversized_chunked_body_is_refused(http_app, server, http):
    host = await add_host(http_app)
    before = await snapshot(http_app)

    async def chunks():
        for _ in range(64):
            yield b" " * 1024

    async with http.post(
        f"{server.url}/agent/v1/heartbeat", data=chunks(), headers=host.auth
    ) as resp:
        assert resp.status == 413
    assert await snapshot(http_app) == before


@pytest.fixture
def limits(tight_limits):
    return tight_limits


async def test_rate_limit_per_agent(http_app, server, http):
    first, second = await add_host(http_app, "one"), await add_host(http_app, "two")
    url = f"{server.url}/agent/v1/heartbeat"
    codes = []
    for _ in range(5):
        async with http.post(url, json=beat_json(), headers=first.auth) as resp:
            codes.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert (await resp.json())["error"] == "rate_limited"
    assert codes == [200, 200, 200, 429, 429]
    async with http.post(url, json=beat_json(), headers=second.auth) as resp:
        assert resp.status == 200, "another agent has its own bucket"


async def test_query_parameters_are_validated(http_app, server, http):
    host = await add_host(http_app)
    for query in ("wait=31", "wait=-1", "after=x", "wait=nan"):
        async with http.get(f"{server.url}/agent/v1/commands?{query}", headers=host.auth) as r:
            assert r.status == 422, query


async def test_health(server, http):
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json()) == {"ok": True}


def test_serving_processes_freeze_start_up_objects_and_make_full_gc_rare():
    import subprocess
    import sys

    code = (
        "import gc; from core.runtime import tune_gc_for_serving as tune; tune(); "
        "print(gc.get_threshold()[2], gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1000", "True"]
