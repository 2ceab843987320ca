"""The service dies right after handing the agent its commands: the agent runs them, keeps
the results, and reports them once the service is back (the daemon keeps running)."""

from __future__ import annotations

import asyncio

from tests.provider_agent.test_daemon import NOW, RecordingBackend, ScriptedService, _cmd, _daemon
from tests.provider_agent.waiting import eventually, holds


class DiesAfterDelivering(ScriptedService):
    async def commands(self, after, wait):
        batch = await super().commands(after, wait)
        if batch.commands:
            self.down = True  # killed right after answering the long-poll
        return batch


async def test_results_of_a_batch_outlive_the_service_that_sent_it():
    clock = {"now": NOW}
    service, backend = DiesAfterDelivering(), RecordingBackend()
    daemon = _daemon(service, backend, clock)
    await service.batches.put([_cmd(1, 1), _cmd(2, 2, rental=8)])
    loop = asyncio.create_task(daemon._command_loop())
    try:
        await eventually(lambda: holds(len(backend.calls) == 2))
        await asyncio.sleep(0.1)  # a few reconnect attempts against the dead service
        assert not loop.done(), loop.exception() if loop.done() else None
        assert service.posted == []
        service.down = False  # restarted
        await eventually(lambda: holds(len(service.posted) == 2))
    finally:
        loop.cancel()
    assert backend.calls == [("grant", "7"), ("grant", "8")]
    assert sorted(r.command_id for r in service.posted) == [1, 2]
