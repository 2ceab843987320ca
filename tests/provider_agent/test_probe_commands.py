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


class _Engine:
    """The engine calls the backend makes to find and remove instances (no engine here)."""

    def __init__(self, running: dict[str, list[str]]) -> None:
        self.running = running  # instance label -> GPU UUIDs
        self.removed: list[str] = []

    async def containers(self, labels, all_states=True):
        wanted = labels.get("rigshare.rental")
        return [
            {"Id": f"c-{name}", "Labels": {"rigshare.rental": name, "rigshare.gpus": ",".join(g)}}
            for name, g in self.running.items()
            if wanted is None or wanted == name
        ]

    async def remove(self, container_id: str) -> None:
        name = container_id.removeprefix("c-")
        self.removed.append(name)
        self.running.pop(name, None)


async def test_a_probe_instance_gives_its_gpus_up_to_a_rentals_grant(tmp_path):
    from provider_agent.container_backend import ContainerBackend
    from provider_agent.instance_config import InstanceConfig

    async def gpus():
        return {"GPU-1": 0, "GPU-2": 1}

    engine = _Engine({"probe-4": ["GPU-1", "GPU-2"], "12": []})
    backend = ContainerBackend(
        InstanceConfig(state_dir=tmp_path), ssh_host="127.0.0.1", gpus=gpus, engine=engine
    )
    limits = InstanceLimits(cpu_millis=500, memory_mib=256, disk_gib=1, shm_mib=64, pids=256)
    request = InstanceRequest(image="x:1", gpu_uuids=["GPU-2"], limits=limits)
    # another probe does not push a probe aside
    assert await backend._yield_probes("probe-5", request) == {
        "GPU-1": "probe-4",
        "GPU-2": "probe-4",
    }
    assert engine.removed == []
    # a rental's grant does
    assert await backend._yield_probes("13", request) == {}
    assert engine.removed == ["probe-4"]
