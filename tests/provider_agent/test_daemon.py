"""The agent daemon's loops on a scripted service: buffering, resending, ordering, replays."""

from __future__ import annotations

import asyncio
import random

import pytest

from core.wire import AgentCommand, CommandBatch, HeartbeatAck, InstanceOffer, ResultAck
from provider_agent.access import AccessInfo
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.errors import AccessError, ServiceUnreachable, TokenRefused
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import HeartbeatBuffer, SshEndpoint, build_heartbeat, gpu_info
from provider_agent.nvml_probe import GpuReading
from provider_agent.simulated_probe import SimulatedProbe
from tests.waiting import eventually, holds

NOW = 1_800_000_000.0
FP = "SHA256:" + "B" * 43


class ScriptedService:
    """Stands in for ServiceClient; ``down`` makes every call fail like a network outage."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.beats: list = []
        self.posted: list = []
        self.batches: asyncio.Queue = asyncio.Queue()

    def _check(self) -> None:
        if self.refuse:
            raise TokenRefused("the service refused the agent token: revoked")
        if self.down:
            raise ServiceUnreachable("ClientConnectorError: connection refused")

    async def heartbeat(self, hb):
        self._check()
        self.beats.append(hb)
        return HeartbeatAck(machine_id=1, status="online", next_in_s=15)

    async def commands(self, after, wait):
        self._check()
        try:
            commands = await asyncio.wait_for(self.batches.get(), 0.05)
        except TimeoutError:
            commands = []
        return CommandBatch(commands=commands, server_time=int(NOW))

    async def results(self, batch):
        self._check()
        self.posted.extend(batch.results)
        return ResultAck(
            accepted=[r.command_id for r in batch.results], ignored=[], evidence_stored=0
        )

    async def close(self) -> None:
        pass


class RecordingBackend:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def grant(self, rental_id, public_key, expires_at_epoch, instance=None):
        if public_key.startswith("bad"):
            raise AccessError("That is not a supported SSH public key")
        self.calls.append(("grant", rental_id))
        return AccessInfo("root", "127.0.0.1", 2222, FP, ports=((8888, 40001),))

    async def revoke(self, rental_id):
        self.calls.append(("revoke", rental_id))

    async def cleanup(self, rental_id):
        self.calls.append(("cleanup", rental_id))

    async def enforce(self):
        self.calls.append(("enforce", ""))
        return set()

    async def active(self):
        return set()

    def offer(self):
        return InstanceOffer(backend="simulated", max_ports=2)

    def gpu_check(self, rental_id):
        return None

    async def selftest_done(self, rental_id):
        self.calls.append(("selftest_done", rental_id))


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd1n9Uz0xWg1o7h1v2b2Y1Yx2y7c2m0hVxF0Jx4ZpQm renter"


def _cmd(id_: int, seq: int, kind: str = "grant", rental: int = 7, **kw) -> AgentCommand:
    fields = {"public_key": KEY, "expires_at": int(NOW) + 3600} if kind == "grant" else {}
    fields = {"issued_at": int(NOW), "valid_until": int(NOW) + 600, **fields, **kw}
    return AgentCommand(id=id_, seq=seq, kind=kind, rental_id=rental, **fields)


@pytest.fixture
def clock():
    return {"now": NOW}


def _daemon(service, backend, clock, buffer_size: int = 4) -> AgentDaemon:
    return AgentDaemon(
        service,
        SimulatedProbe("4090", clock=lambda: clock["now"]),
        CommandExecutor(backend, clock=lambda: clock["now"]),
        endpoint=SshEndpoint("127.0.0.1", 2222, FP),
        timing=AgentTiming(interval_s=0.01, buffer_size=buffer_size, backoff_max_s=0.01),
        clock=lambda: clock["now"],
        rng=random.Random(1),
    )


async def test_outage_buffers_newest_beats_and_resends_them_oldest_first(clock):
    service, backend = ScriptedService(), RecordingBackend()
    daemon = _daemon(service, backend, clock, buffer_size=3)
    await daemon.beat()
    service.down = True
    for _ in range(5):
        clock["now"] += 15
        await daemon.beat()
    assert len(daemon.buffer) == 3 and daemon.buffer.dropped == 2
    service.down = False
    clock["now"] += 15
    await daemon.beat()
    seqs = [(hb.seq, hb.queued_s) for hb in service.beats]
    # the fresh beat first (liveness), then the three newest buffered ones, oldest first
    assert seqs == [(1, 0), (7, 0), (4, 45), (5, 30), (6, 15)]
    assert daemon.stats.beats_resent == 3 and not daemon.buffer
    assert all(hb.ssh_port == 2222 and hb.host_key_fingerprint == FP for hb in service.beats)
    assert all(hb.offer == InstanceOffer(backend="simulated", max_ports=2) for hb in service.beats)
    assert backend.calls.count(("enforce", "")) == 7  # expiry enforced on every beat


async def test_commands_run_in_seq_order_once_and_replays_are_answered_not_rerun(clock):
    service, backend = ScriptedService(), RecordingBackend()
    daemon = _daemon(service, backend, clock)
    await service.batches.put([_cmd(2, 2, "revoke"), _cmd(1, 1)])
    await service.batches.put([_cmd(1, 1)])  # delivered again (say, after a restart)
    await service.batches.put(
        [_cmd(3, 3, valid_until=int(NOW) - 1), _cmd(4, 4, public_key="bad key bad key bad key")]
    )
    loop = asyncio.create_task(daemon._command_loop())
    await eventually(lambda: holds(len(service.posted) >= 5))
    loop.cancel()
    assert backend.calls == [("grant", "7"), ("cleanup", "7")]
    assert [(r.command_id, r.ok) for r in service.posted] == [
        (1, True),
        (2, True),
        (1, True),
        (3, False),
        (4, False),
    ]
    assert service.posted[0].access.username == "root"
    assert [(p.container_port, p.host_port) for p in service.posted[0].access.ports] == [
        (8888, 40001)
    ]
    assert service.posted[3].error == "stale command, not run"
    assert "supported SSH public key" in service.posted[4].error
    assert daemon._after == 4


async def test_results_survive_an_outage(clock):
    service, backend = ScriptedService(), RecordingBackend()
    daemon = _daemon(service, backend, clock)
    await daemon._handle(_cmd(1, 1))
    service.down = True
    with pytest.raises(ServiceUnreachable):
        await daemon._send_results()
    service.down = False
    await daemon._send_results()
    assert [r.command_id for r in service.posted] == [1]


async def test_refused_token_stops_the_daemon(clock):
    service, backend = ScriptedService(), RecordingBackend()
    service.refuse = True
    with pytest.raises(TokenRefused):
        await asyncio.wait_for(_daemon(service, backend, clock).run(), 5)


class SlowRevokeBackend(RecordingBackend):
    def __init__(self) -> None:
        super().__init__()
        self.revoking = asyncio.Event()
        self.release = asyncio.Event()

    async def cleanup(self, rental_id):
        self.revoking.set()
        await self.release.wait()
        self.calls.append(("cleanup", rental_id))


async def test_a_stop_lets_the_command_in_flight_finish_and_runs_no_new_one(clock):
    service, backend = ScriptedService(), SlowRevokeBackend()
    daemon = _daemon(service, backend, clock)
    await service.batches.put([_cmd(1, 1, "revoke"), _cmd(2, 2, rental=8)])
    run = asyncio.create_task(daemon.run())
    await asyncio.wait_for(backend.revoking.wait(), 5)
    daemon.request_stop()
    await asyncio.sleep(0.1)
    assert not run.done()  # a revoke cut in half would leave the instance's files behind
    backend.release.set()
    await asyncio.wait_for(run, 5)
    assert ("cleanup", "7") in backend.calls and ("grant", "8") not in backend.calls
    assert [(r.command_id, r.ok) for r in service.posted] == [(1, True)]
    assert daemon._after == 1  # command 2 is delivered again after the restart


def test_heartbeat_interval_is_jittered_twenty_percent(clock):
    daemon = _daemon(ScriptedService(), RecordingBackend(), clock)
    daemon.timing = AgentTiming()
    waits = [daemon.next_interval() for _ in range(2000)]
    assert 12.0 <= min(waits) < 12.3 and 17.7 < max(waits) <= 18.0
    assert [round(daemon._backoff(n, None), 1) <= 30 for n in (1, 5, 40)] == [True] * 3
    assert daemon._backoff(1, 7.0) == 7.0  # the service's Retry-After wins


def test_nonsense_readings_become_na_and_lost_gpus_stay_listed():
    odd = GpuReading(0, None, None, temperature_c=9000, utilization_pct=-3, power_w=250)
    info = gpu_info(odd)
    assert (info.uuid, info.name, info.temperature_c, info.utilization_pct, info.power_w) == (
        "n/a",
        "n/a",
        None,
        None,
        250,
    )
    many = [GpuReading(i, f"GPU-{i}", "NVIDIA L4", lost=i == 3) for i in range(20)]
    hb = build_heartbeat(many, seq=1, sent_at=1, version="t", endpoint=None)
    assert len(hb.gpus) == 16 and hb.gpus[3].lost and hb.ssh_host is None


def test_buffer_marks_waiting_time():
    buffer = HeartbeatBuffer(2)
    hb = build_heartbeat([], seq=1, sent_at=1, version="t", endpoint=None)
    buffer.add(hb, 100.0)
    assert buffer.oldest(100.2).queued_s == 1 and buffer.oldest(160.0).queued_s == 60
