"""Rentals as containers on a real engine (Debian's dockerd in a private network namespace),
attacked as a hostile renter would: GPUs, limits, neighbours, the host, the deadline, the end.

The host has four fake GPUs (device nodes 195:0-3 in a private directory); images come from a
registry on the namespace's loopback. Every renter command runs over SSH as the renter's own
login would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.wire import InstanceLimits
from provider_agent.container_backend import ContainerBackend
from tests.engine.harness import HOST_NAMESPACE
from tests.provider_agent.instance_support import backend, expiry, request, running, sh, sh_status

pytestmark = pytest.mark.engine


@pytest.fixture
async def host(docker_engine, tmp_path) -> AsyncIterator[ContainerBackend]:
    async with running(backend(docker_engine, tmp_path / "agent")) as b:
        yield b


async def test_two_renters_see_only_their_own_gpu_and_limits(docker_engine, host, renters):
    alice, bob = renters
    (gpu_a, minor_a), (gpu_b, minor_b) = docker_engine.gpus[0], docker_engine.gpus[2]
    a, b = await asyncio.gather(
        host.grant("101", alice.public_key, expiry(), request(docker_engine, [gpu_a])),
        host.grant("102", bob.public_key, expiry(), request(docker_engine, [gpu_b])),
    )
    assert a.gpu_uuids == (gpu_a,) and b.gpu_uuids == (gpu_b,)
    assert a.host_key_fingerprint != b.host_key_fingerprint  # a host key per instance
    nodes_a = (await sh(a, alice, "cd /dev && echo nvidia[0-9]*")).split()
    nodes_b = (await sh(b, bob, "cd /dev && echo nvidia[0-9]*")).split()
    assert nodes_a == [f"nvidia{minor_a}"] and nodes_b == [f"nvidia{minor_b}"]
    # root inside, but a node made for someone else's GPU is refused by the device cgroup
    status, out = await sh_status(
        a,
        alice,
        f"mknod /tmp/stolen c 195 {minor_b} 2>&1; "
        f'python3 -c \'open("/dev/nvidia{minor_a}", "rb")\' 2>&1; echo own-ok; '
        f"python3 -c 'import os; os.mknod(\"/tmp/s2\", 0o20666, os.makedev(195, {minor_b}))' "
        "2>&1 || true",
    )
    assert "Operation not permitted" in out and "own-ok" in out
    assert (await sh(a, alice, "id -u")).strip() == "0"
    if docker_engine.cgroup_version == 1:
        allowed = await sh(a, alice, "cat /sys/fs/cgroup/devices/devices.list")
        assert f"c 195:{minor_a} rw" in allowed
        assert f"c 195:{minor_b} " not in allowed and "a *:* rwm" not in allowed


async def test_limits_are_in_the_cgroup_files(docker_engine, host, renters):
    alice, _ = renters
    limits = InstanceLimits(cpu_millis=1000, memory_mib=640, disk_gib=2, shm_mib=96, pids=300)
    gpu = docker_engine.gpus[1][0]
    a = await host.grant(
        "103", alice.public_key, expiry(), request(docker_engine, [gpu], limits=limits)
    )
    if docker_engine.cgroup_version == 1:
        files = (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
            " /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
            " /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpuset/cpuset.cpus"
        )
    else:
        files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
    out = await sh(a, alice, f"cat {files} 2>/dev/null; df -k /dev/shm | tail -1")
    values = out.split()
    assert str(640 * 1024 * 1024) in values
    assert "300" in values
    assert "100000" in values  # a whole core: quota = period
    assert str(96 * 1024) in values  # /dev/shm size in KiB
    # 400 processes where 300 are allowed: the fork bomb stops at the limit
    status, out = await sh_status(
        a, alice, "for i in $(seq 400); do sleep 3 & done 2>&1 | tail -1; echo done"
    )
    assert "Resource temporarily unavailable" in out or "retry" in out.lower()


async def test_neighbours_see_no_files_processes_or_ports(docker_engine, host, renters):
    alice, bob = renters
    g1, g2 = docker_engine.gpus[0][0], docker_engine.gpus[3][0]
    a = await host.grant("104", alice.public_key, expiry(), request(docker_engine, [g1]))
    b = await host.grant("105", bob.public_key, expiry(), request(docker_engine, [g2]))
    await sh(
        a,
        alice,
        "echo secret > /root/alice.txt; (sleep 600 &) ; "
        "(python3 -m http.server 7000 --bind 0.0.0.0 >/dev/null 2>&1 &); sleep 0.5",
    )
    ip_a = (await sh(a, alice, "hostname -i")).split()[0]
    out = await sh(
        b,
        bob,
        "ls /root; ps -eo args | grep -c '[s]leep 600' ; "
        f"timeout 3 bash -c 'echo > /dev/tcp/{ip_a}/7000' && echo PORT-OPEN || echo port-closed",
    )
    assert "alice.txt" not in out
    assert out.split()[-2] == "0"  # alice's sleep is invisible
    assert "port-closed" in out and "PORT-OPEN" not in out


async def test_the_host_and_the_lan_are_unreachable_the_internet_is_not(
    docker_engine, host, renters
):
    alice, _ = renters
    a = await host.grant(
        "106", alice.public_key, expiry(), request(docker_engine, [docker_engine.gpus[0][0]])
    )
    probe = "timeout 1 bash -c 'echo > /dev/tcp/{0}/{1}' && echo OPEN-{0} || echo closed-{0}"
    with (
        docker_engine.serve_tcp(docker_engine.netns, docker_engine.host_address, 9101),
        docker_engine.serve_tcp(HOST_NAMESPACE, docker_engine.lan_address, 9102),
        docker_engine.serve_tcp(docker_engine.wan_netns, docker_engine.wan_address, 9103),
    ):
        gateway = (await sh(a, alice, "ip route | awk '/default/ {print $3}'")).strip()
        out = await sh(
            a,
            alice,
            "; ".join(
                [
                    probe.format(docker_engine.host_address, 9101),
                    probe.format(gateway, 9101),
                    probe.format(docker_engine.lan_address, 9102),
                    probe.format("169.254.169.254", 80),
                    probe.format(docker_engine.wan_address, 9103),
                ]
            ),
        )
    assert f"closed-{docker_engine.host_address}" in out
    assert f"closed-{gateway}" in out
    assert f"closed-{docker_engine.lan_address}" in out
    assert "closed-169.254.169.254" in out
    assert f"OPEN-{docker_engine.wan_address}" in out  # egress to the internet is allowed


async def test_stopped_processes_do_not_survive_revoke(docker_engine, host, renters):
    alice, _ = renters
    a = await host.grant(
        "107", alice.public_key, expiry(), request(docker_engine, [docker_engine.gpus[1][0]])
    )
    # a detached loop that stops every other process in the instance (its sshd included)
    # over and over, so that nothing could run a kill helper inside
    await sh(
        a,
        alice,
        "nohup setsid sh -c 'sleep 31337 & sleep 1; while :; do kill -STOP -1; sleep 0.2; done' "
        ">/dev/null 2>&1 </dev/null &",
    )
    await asyncio.sleep(2)  # the login is over; now everything but the loop is stopped
    assert await _host_has("sleep 31337")
    assert "T" in await _host_state("sleep 31337")  # the sleep is stopped, the loop runs
    await host.revoke("107")
    assert not await _host_has("sleep 31337")
    assert "107" not in await host.active()


async def _host_state(marker: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ps", "-eo", "stat=,args=", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    states = [line.split()[0][0] for line in out.decode().splitlines() if marker in line]
    return "".join(sorted(set(states)))


async def _host_has(marker: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "pgrep", "-f", marker, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return bool(out.strip())


async def test_the_deadline_stops_the_instance_without_the_agent(docker_engine, host, renters):
    alice, _ = renters
    a = await host.grant(
        "108", alice.public_key, expiry(4), request(docker_engine, [docker_engine.gpus[2][0]])
    )
    assert (await sh(a, alice, "echo up")).strip() == "up"
    # the agent does nothing from here on: the instance's own init ends it
    deadline = time.monotonic() + 20
    while True:
        state = (await host.engine.containers({"rigshare.rental": "108"}))[0]["State"]
        if state != "running":
            break
        assert time.monotonic() < deadline, "the instance outlived its paid-until time"
        await asyncio.sleep(0.5)
    assert "108" in await host.enforce()
    assert "108" not in await host.active()


async def test_extend_moves_the_deadline_in_place(docker_engine, host, renters):
    alice, _ = renters
    req = request(docker_engine, [docker_engine.gpus[3][0]])
    a = await host.grant("109", alice.public_key, expiry(4), req)
    before = (await host.engine.containers({"rigshare.rental": "109"}))[0]["Id"]
    await sh(a, alice, "echo kept > /root/work.txt")
    again = await host.grant("109", alice.public_key, expiry(600), req)
    assert again == a  # same access: the same instance goes on
    await asyncio.sleep(6)  # past the first deadline
    assert (await sh(a, alice, "cat /root/work.txt")).strip() == "kept"
    assert (await host.engine.containers({"rigshare.rental": "109"}))[0]["Id"] == before


async def test_data_is_gone_after_the_end(docker_engine, host, renters):
    alice, _ = renters
    a = await host.grant(
        "110", alice.public_key, expiry(), request(docker_engine, [docker_engine.gpus[0][0]])
    )
    marker = f"model-{time.time_ns()}.bin"
    await sh(a, alice, f"head -c 1000000 /dev/urandom > /root/{marker}")
    [container] = await host.engine.containers({"rigshare.rental": "110"})
    root = Path((await host.engine.info())["DockerRootDir"])
    assert len(await asyncio.to_thread(_find, root, marker)) == 1  # in the writable layer
    await host.cleanup("110")
    assert await host.engine.inspect(container["Id"]) is None
    assert await asyncio.to_thread(_find, root, marker) == []
    assert not (host.instances_dir / "110").exists()


def _find(root: Path, name: str) -> list[Path]:
    return list(root.rglob(name))


async def test_a_restarted_agent_finds_and_reconciles_its_instances(
    docker_engine, tmp_path, renters
):
    alice, _ = renters
    first = backend(docker_engine, tmp_path / "agent")
    await first.start()
    req = request(docker_engine, [docker_engine.gpus[1][0]])
    a = await first.grant("111", alice.public_key, expiry(), req)
    b = await first.grant(
        "112", alice.public_key, expiry(), request(docker_engine, [docker_engine.gpus[2][0]])
    )
    await first.close()
    # the agent process dies; a new one starts with the same state directory
    second = backend(docker_engine, tmp_path / "agent")
    await second.start()
    try:
        assert {"111", "112"} <= await second.active()
        assert await second.grant("111", alice.public_key, expiry(900), req) == a  # redelivered
        (second.instances_dir / "112" / "deadline").write_text("1\n")  # its time ran out
        removed = await second.enforce()
        assert removed == {"112"} and "111" in await second.active()
        assert (await sh(a, alice, "echo still")).strip() == "still"
        assert b.gpu_uuids != a.gpu_uuids
    finally:
        for rental in await second.active():
            await second.cleanup(rental)
        await second.close()


async def test_the_disk_limit_holds_where_the_engine_can_limit_disk(
    private_docker_engine, tmp_path, renters
):
    docker_engine = private_docker_engine
    if not docker_engine.disk_limits:
        pytest.skip(f"this engine cannot limit disk: {docker_engine.disk_limits_notes}")
    alice, _ = renters
    async with running(backend(docker_engine, tmp_path / "agent")) as host:
        await _fill_the_disk(host, docker_engine, alice)


async def _fill_the_disk(host, docker_engine, alice) -> None:
    limits = InstanceLimits(cpu_millis=500, memory_mib=512, disk_gib=1, shm_mib=64, pids=256)
    a = await host.grant(
        "113",
        alice.public_key,
        expiry(),
        request(docker_engine, [docker_engine.gpus[0][0]], limits=limits),
    )
    status, out = await sh_status(
        a, alice, "dd if=/dev/zero of=/root/big bs=1M count=1300 2>&1; du -m /root/big", within=120
    )
    assert "Disk quota exceeded" in out or "No space left" in out, out
    assert int(out.split()[-2]) < 1024  # stopped inside the 1 GiB (the image counts too)
