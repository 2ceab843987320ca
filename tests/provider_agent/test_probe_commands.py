"""The agent's side of the service's probes: a ``probe`` starts an instance named apart from
rentals with the service's key on the GPUs asked for, takes the agent's own probe key out at
once and runs no self-test of its own (the service logs in itself); ``unprobe`` removes it."""

from __future__ import annotations

import time

from core.wire import AgentCommand, InstanceLimits, InstanceRequest
from provider_agent.access import AccessInfo
from provider_agent.executor import CommandExecutor

SERVICE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJustTheServicesProbeKeyForThisTestAAAAA svc"


class _Backend:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def grant(self, rental_id, public_key, expires_at, instance=None) -> AccessInfo:
        self.calls.append(("grant", rental_id, public_key, tuple(instance.gpu_uuids)))
        return AccessInfo(
            "root",
            "127.0.0.1",
            40022,
            "SHA256:" + "C" * 43,
            (),
            None,
            None,
            tuple(instance.gpu_uuids),
            instance.image,
        )

    async def selftest_done(self, rental_id) -> None:
        self.calls.append(("selftest_done", rental_id))

    async def cleanup(self, rental_id) -> None:
        self.calls.append(("cleanup", rental_id))


class _NoSelfTest:
    async def run(self, *a, **k):  # pragma: no cover - the probe must not call it
        raise AssertionError("the agent's own self-test ran for a service probe")


def _cmd(kind: str, **fields) -> AgentCommand:
    now = int(time.time())
    return AgentCommand(
        id=3, seq=3, kind=kind, rental_id=7, issued_at=now, valid_until=now + 300, **fields
    )


async def test_a_probe_starts_an_instance_for_the_service_and_unprobe_removes_it():
    backend = _Backend()
    executor = CommandExecutor(backend, selftest=_NoSelfTest())
    instance = InstanceRequest(
        image="docker.io/library/base:1",
        gpu_uuids=["GPU-1"],
        limits=InstanceLimits(cpu_millis=500, memory_mib=256, disk_gib=1, shm_mib=64, pids=256),
    )
    expires = int(time.time()) + 600
    result = await executor.run(
        _cmd("probe", public_key=SERVICE_KEY, expires_at=expires, instance=instance)
    )
    assert result.ok and result.access.port == 40022 and result.evidence == []
    assert result.access.gpu_uuids == ["GPU-1"]
    assert backend.calls == [
        ("grant", "probe-7", SERVICE_KEY, ("GPU-1",)),  # never rental 7's instance
        ("selftest_done", "probe-7"),
    ]
    assert (await executor.run(_cmd("unprobe"))).ok
    assert backend.calls[-1] == ("cleanup", "probe-7")


async def test_a_probe_without_gpus_or_key_is_refused():
    result = await CommandExecutor(_Backend()).run(_cmd("probe"))
    assert not result.ok and "probe without key" in result.error
