"""The installed ``rigshare-agent`` command as a provider runs it, against the real service."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from aiohttp import web

from core.wire import Heartbeat, ResultBatch
from provider_agent.client import ServiceClient
from provider_agent.errors import RequestRejected, ServiceUnreachable, TokenRefused


async def _agent(*args: str, token: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provider_agent.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RIGSHARE_AGENT_TOKEN": token},
    )


async def test_refused_token_exits_4_with_a_clear_message(served, tmp_path):
    _, server = served
    proc = await _agent(
        *("--server", server.url, "--simulate", "4090", "--backend", "simulated"),
        token="rsa_wrong",
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 4
    assert "refused the agent token" in err.decode() and "rsa_wrong" not in err.decode()


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
