"""What a hostile provider's agent might send: each gets a 4xx with a reason, nothing changes,
and the other providers' agents are served as before (over real HTTP, SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.common import render
from core.services.views import EvidenceView
from tests.bot.agent_support import add_host, beat_json, fund_rental, snapshot


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def _beat(**changes: object) -> bytes:
    return json.dumps({**beat_json(seq=5), **changes}).encode()


def _gpu(**changes: object) -> bytes:
    beat = beat_json(seq=5)
    return json.dumps({**beat, "gpus": [{**beat["gpus"][0], **changes}]}).encode()


def _spec(**changes: object) -> bytes:
    beat = beat_json(seq=5)
    return json.dumps({**beat, "machine": {**beat["machine"], **changes}}).encode()


def _with_number(template: dict, path: tuple, raw: str) -> bytes:
    """``template`` as JSON with the value at ``path`` written as the raw text ``raw`` (a
    number JSON can spell but ``json.dumps`` would not: NaN, 5,000 digits)."""
    marker = "__RAW__"
    node = template
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = marker
    return json.dumps(template).encode().replace(f'"{marker}"'.encode(), raw.encode())


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


HOSTILE_BEATS = [
    (_beat(agent_version="v" * 100), 422),  # the column holds 32 (PostgreSQL refused it: 500)
    (_beat(agent_version="1.0\n[service] all beats lost"), 422),
    (_gpu(name="NVIDIA H100\u202e0904 XTR"), 422),  # renders right-to-left as another model
    (_gpu(name="RTX 4090\x00"), 422),
    (_spec(cpu_model="EPYC\x1b[31m"), 422),
    (_beat(seq=-1), 422),
    (_gpu(vram_total_mib=-80), 422),
    (_gpu(ecc_errors=2**64), 422),
    (_beat(ssh_port=2**31), 422),
    (_beat(sent_at=2**62), 422),  # a time far in the future
    (_beat(seq=2**63), 422),
    (_beat(queued_s=10**12), 422),
    (_beat(gpus=[beat_json()["gpus"][0]] * 2), 422),  # the same GPU UUID twice
    (_beat(gpus=[{**beat_json()["gpus"][0], "index": i} for i in range(17)]), 422),
    (_with_number(beat_json(seq=5), ("gpus", 0, "temperature_c"), "NaN"), 400),
    (_with_number(beat_json(seq=5), ("gpus", 0, "power_w"), "Infinity"), 400),
    (_with_number(beat_json(seq=5), ("gpus", 0, "power_w"), "1e999"), 400),
    (_with_number(beat_json(seq=5), ("seq",), "9" * 5000), 400),  # Python's digit limit
    (_with_number(beat_json(seq=5), ("seq",), "-" + "9" * 4000), 400),
    (_deep(15_000), 400),  # deeper than the parser recurses
]


async def test_hostile_heartbeats_are_refused_and_change_nothing(http_app, server, http, clock):
    hostile, honest = await add_host(http_app, "evil"), await add_host(http_app, "honest")
    url = f"{server.url}/agent/v1/heartbeat"
    clock.advance(10)
    before = await snapshot(http_app)
    answers = []
    for body, _ in HOSTILE_BEATS:
        headers = {**hostile.auth, "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=headers) as resp:
            answers.append((resp.status, (await resp.json()).get("reason")))
    assert [status for status, _ in answers] == [status for _, status in HOSTILE_BEATS], answers
    assert all(reason and "reference" not in reason for _, reason in answers)
    assert await snapshot(http_app) == before
    async with http.post(url, json=beat_json(seq=5), headers=honest.auth) as resp:
        assert resp.status == 200
    async with http.post(url, json=beat_json(seq=5), headers=hostile.auth) as resp:
        assert resp.status == 200, "a sound beat from the same agent is still taken"


def _evidence(rental_id: int, **changes: object) -> dict:
    return {"kind": "ssh_log", "at": 1, "rental_id": rental_id, "data": {"lines": "x"}, **changes}


async def test_hostile_results_are_refused_and_change_nothing(http_app, server, http, clock):
    host = await add_host(http_app)
    rental_id = await fund_rental(http_app)
    async with http.get(f"{server.url}/agent/v1/commands?wait=0", headers=host.auth) as resp:
        [command] = (await resp.json())["commands"]
    gap = {"source": "service", "from": "yesterday", "to": clock.now()}
    hostile = [
        ({"results": [{"command_id": 2**31, "ok": False}]}, 422),  # PostgreSQL INTEGER: 500
        ({"results": [{"command_id": 2**63, "ok": False}]}, 422),
        ({"results": [{"command_id": -command["id"], "ok": False}]}, 422),
        ({"evidence": [_evidence(2**31)]}, 422),
        ({"evidence": [_evidence(rental_id, kind="heartbeat_gap", data=gap)]}, 422),
        ({"evidence": [_evidence(rental_id, kind="heartbeat_gap", data={"source": "agent"})]}, 422),
        ({"evidence": [_evidence(rental_id, at=2**45)]}, 422),
        ({"evidence": [_evidence(rental_id, data={"lines": ["nested"]})]}, 422),
        ({"evidence": [_evidence(rental_id)] * 17}, 422),
        ({"evidence": [_evidence(rental_id, kind="selftest", data={"success": "yes"})]}, 422),
    ]
    bodies = [(json.dumps(body).encode(), status) for body, status in hostile]
    bodies += [
        (
            _with_number(
                {"results": [{"command_id": 1, "ok": False}]},
                ("results", 0, "command_id"),
                "9" * 4400,
            ),
            400,
        ),
        (_with_number({"evidence": [_evidence(rental_id)]}, ("evidence", 0, "at"), "NaN"), 400),
        (_deep(100_000), 400),
    ]
    before = await snapshot(http_app)
    answers = []
    for body, _ in bodies:
        headers = {**host.auth, "Content-Type": "application/json"}
        async with http.post(f"{server.url}/agent/v1/results", data=body, headers=headers) as r:
            answers.append((r.status, (await r.json()).get("reason")))
    assert [status for status, _ in answers] == [status for _, status in bodies], answers
    assert all(reason and "reference" not in reason for _, reason in answers)
    assert await snapshot(http_app) == before
    for query in ("after=2147483648", "after=1e30"):
        async with http.get(
            f"{server.url}/agent/v1/commands?wait=0&{query}", headers=host.auth
        ) as r:
            assert r.status == 422, query
    # the agent's sound answer is still taken
    result = {"command_id": command["id"], "ok": False, "error": "no GPU"}
    async with http.post(
        f"{server.url}/agent/v1/results", json={"results": [result]}, headers=host.auth
    ) as resp:
        assert resp.status == 200 and (await resp.json())["accepted"] == [command["id"]]


def test_evidence_is_shown_as_one_short_line_per_value_whatever_the_agent_wrote():
    view = EvidenceView(1, 1, "selftest", 0, 0, {"error": "x" * 4000 + "\n\u202e", "ok": True})
    text = render.evidence("en", 1, [view])
    assert len(text) < 400 and "\u202e" not in text and "x" * 81 not in text
