"""What a provider reads in the agent's log at INFO (issue 13): started, online, each grant
and revoke, the service lost (offline) and back, stopped; never the agent token."""

from __future__ import annotations

import asyncio
import logging

from provider_agent.client import ServiceClient
from tests.provider_agent.test_daemon import (
    RecordingBackend,
    ScriptedService,
    _cmd,
    _daemon,
)
from tests.waiting import eventually, holds

TOKEN = "rsa_secret-token-never-logged"


class TokenService(ScriptedService):
    """The scripted service, shown in the log the way the real client is (no token)."""

    def __init__(self) -> None:
        super().__init__()
        self.real = ServiceClient("http://127.0.0.1:9", TOKEN)

    def __repr__(self) -> str:
        return repr(self.real)

    async def close(self) -> None:
        await self.real.close()


async def test_an_agent_run_logs_what_it_does_and_never_its_token(caplog):
    caplog.set_level(logging.INFO)
    clock = {"now": 1_800_000_000.0}
    service, backend = TokenService(), RecordingBackend()
    daemon = _daemon(service, backend, clock)
    run = asyncio.create_task(daemon.run())
    await eventually(lambda: holds(len(service.beats) >= 1))
    await service.batches.put([_cmd(1, 1)])  # a grant
    await eventually(lambda: holds(("grant", "7") in backend.calls))
    await service.batches.put([_cmd(2, 2, "revoke")])
    await eventually(lambda: holds(("cleanup", "7") in backend.calls))
    await eventually(lambda: holds(len(service.posted) >= 2))
    service.down = True  # the service goes away, then comes back
    await eventually(lambda: holds("offline" in caplog.text))
    service.down = False
    beats = len(service.beats)
    await eventually(lambda: holds(len(service.beats) > beats + 1))
    daemon.request_stop()
    await asyncio.wait_for(run, 5)

    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    text = "\n".join(messages)
    for said in ("started:", "online:", "rental 7: grant", "rental 7: revoked", "offline:"):
        assert said in text, (said, text)
    assert messages[-1] == "stopped"
    assert sum(m.startswith("online:") for m in messages) >= 2  # back after the outage
    assert TOKEN not in caplog.text and "secret-token" not in caplog.text
