"""A service that dies and comes back: results of commands it handed out just before dying
are kept and reported once it is back (the daemon keeps running), and the command loop
reconnects as soon as a heartbeat gets through instead of waiting out its backoff."""

from __future__ import annotations

import asyncio
import random

from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import SshEndpoint
from provider_agent.simulated_probe import SimulatedProbe
from tests.provider_agent.test_daemon import (
    FP,
    NOW,
    RecordingBackend,
    ScriptedService,
    _cmd,
    _daemon,
)
from tests.waiting import eventually, holds


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


async def test_a_heartbeat_that_gets_through_ends_the_command_loop_backoff():
    clock = {"now": NOW}
    service, backend = ScriptedService(), RecordingBackend()
    daemon = AgentDaemon(
        service,
        SimulatedProbe("4090", clock=lambda: clock["now"]),
        CommandExecutor(backend, clock=lambda: clock["now"]),
        endpoint=SshEndpoint("127.0.0.1", 2222, FP),
        timing=AgentTiming(interval_s=60, backoff_first_s=30, backoff_max_s=30),
        clock=lambda: clock["now"],
        rng=random.Random(1),
    )
    service.down = True
    loop = asyncio.create_task(daemon._command_loop())
    try:
        await eventually(lambda: holds(daemon.stats.reconnects == 1))  # now waits 24-30 s
        service.down = False  # restarted
        await service.batches.put([_cmd(1, 1)])
        await daemon.beat()  # the next heartbeat finds it
        await eventually(lambda: holds(len(service.posted) == 1), 3)
    finally:
        loop.cancel()
