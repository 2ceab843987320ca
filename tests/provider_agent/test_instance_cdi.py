"""The ``cdi`` GPU binding on podman: GPUs by CDI name through podman's libpod API.

The unit tests pin the translation of the Docker create body into podman's SpecGenerator. The
engine tests run rentals on the real podman 4.3 of tests/engine (its CNI network backend; four
fake GPUs named by UUID in a CDI spec) and attack them as the isolation tests do on dockerd:
each instance gets exactly its own GPU, its limits, SSH and published ports; neighbours, the
host and the LAN stay out of reach also where podman's own firewall rules come first; revoke
leaves nothing.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.wire import InstanceLimits
from provider_agent.container_backend import ContainerBackend
from provider_agent.engine_api import EngineError
from provider_agent.gpu_binding import CdiDevices, HostGpu, NvidiaRuntime
from provider_agent.libpod_spec import libpod_spec
from tests.engine.gpus import NVIDIA_MAJOR, NVIDIACTL_MINOR, UVM_MAJOR
from tests.engine.harness import HOST_NAMESPACE
from tests.provider_agent.instance_support import backend, expiry, request, running, sh, sh_status

UUID_A = "GPU-0d0c5a6e-4d1e-4e8f-9c1a-8f6f3b1c2d3e"
UUID_B = "GPU-7f2e9b1a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"


# -- the translation ---------------------------------------------------------------------------
def _docker_body(**host: Any) -> dict[str, Any]:
    """A body as ContainerBackend._container_body builds it for the cdi binding."""
    host_config = {
        "Binds": ["/var/lib/rs/tools:/.rigshare/tools:ro", "/var/lib/rs/run/7:/.rigshare/run:ro"],
        "PortBindings": {
            "22/tcp": [{"HostIp": "203.0.113.5", "HostPort": ""}],
            "8080/tcp": [{"HostIp": "203.0.113.5", "HostPort": ""}],
        },
        "NetworkMode": "rigshare-instances",
        "NanoCpus": 1_500_000_000,
        "CpusetCpus": "2,3",
        "Memory": 512 * 1024 * 1024,
        "MemorySwap": 512 * 1024 * 1024,
        "ShmSize": 64 * 1024 * 1024,
        "PidsLimit": 256,
        "StorageOpt": {"size": "10G"},
        "CapDrop": ["NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE"],
        "SecurityOpt": ["no-new-privileges"],
        "Privileged": False,
        "Init": False,
        "RestartPolicy": {"Name": "no"},
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
        **CdiDevices().host_config([HostGpu(UUID_A, 0)]),
        **host,
    }
    return {
        "Image": "127.0.0.1:5000/rigshare-test/base:1",
        "Entrypoint": ["/.rigshare/tools/busybox", "sh", "/.rigshare/tools/init.sh"],
        "Cmd": [],
        "User": "0:0",
        "WorkingDir": "/root",
        "Hostname": "rental-7",
        "Env": ["A=1", "B=x=y"],
        "Labels": {"rigshare.rental": "7", "rigshare.gpus": UUID_A},
        "ExposedPorts": {"22/tcp": {}, "8080/tcp": {}},
        "StopSignal": "SIGKILL",
        "HostConfig": host_config,
    }


def test_the_libpod_spec_carries_every_setting_of_the_docker_body():
    spec = libpod_spec("rigshare-7", _docker_body(), CdiDevices().names([HostGpu(UUID_A, 0)]))
    assert spec == {
        "name": "rigshare-7",
        "image": "127.0.0.1:5000/rigshare-test/base:1",
        "entrypoint": ["/.rigshare/tools/busybox", "sh", "/.rigshare/tools/init.sh"],
        "user": "0:0",
        "work_dir": "/root",
        "hostname": "rental-7",
        "env": {"A": "1", "B": "x=y"},
        "labels": {"rigshare.rental": "7", "rigshare.gpus": UUID_A},
        "devices": [{"path": f"nvidia.com/gpu={UUID_A}"}],
        "mounts": [
            {
                "type": "bind",
                "source": "/var/lib/rs/tools",
                "destination": "/.rigshare/tools",
                "options": ["rbind", "ro"],
            },
            {
                "type": "bind",
                "source": "/var/lib/rs/run/7",
                "destination": "/.rigshare/run",
                "options": ["rbind", "ro"],
            },
        ],
        "portmappings": [
            {"container_port": 22, "host_ip": "203.0.113.5", "host_port": 0, "protocol": "tcp"},
            {"container_port": 8080, "host_ip": "203.0.113.5", "host_port": 0, "protocol": "tcp"},
        ],
        "expose": {"22": "tcp", "8080": "tcp"},
        "netns": {"nsmode": "bridge"},
        "Networks": {"rigshare-instances": {}},
        "resource_limits": {
            "cpu": {"quota": 150_000, "period": 100_000, "cpus": "2,3"},
            "memory": {"limit": 512 * 1024 * 1024, "swap": 512 * 1024 * 1024},
            "pids": {"limit": 256},
        },
        "shm_size": 64 * 1024 * 1024,
        "storage_opts": {"size": "10G"},
        "cap_drop": ["NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE"],
        "no_new_privileges": True,
        "init": False,
        "restart_policy": "no",
        "stop_signal": 9,
        "log_configuration": {"driver": "k8s-file", "size": 1024 * 1024},
    }


def test_the_libpod_spec_leaves_out_what_the_body_does_not_set():
    body = _docker_body(CpusetCpus="", StorageOpt=None, LogConfig=None, MemorySwap=0)
    spec = libpod_spec("rigshare-7", body, [])
    assert spec["resource_limits"] == {
        "cpu": {"quota": 150_000, "period": 100_000},
        "memory": {"limit": 512 * 1024 * 1024},
        "pids": {"limit": 256},
    }
    assert "storage_opts" not in spec and "log_configuration" not in spec
    assert spec["devices"] == []


def test_plain_device_nodes_keep_their_paths_and_permissions():
    nodes = [
        {"PathOnHost": "/dev/nvidia1", "PathInContainer": "/dev/nvidia1", "CgroupPermissions": "rw"}
    ]
    spec = libpod_spec("n", _docker_body(Devices=nodes, DeviceRequests=None), [])
    assert spec["devices"] == [{"path": "/dev/nvidia1:/dev/nvidia1:rw"}]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Privileged": True}, "privileged"),
        ({"SecurityOpt": ["seccomp=unconfined"]}, "security options seccomp=unconfined"),
        (
            {"DeviceRequests": NvidiaRuntime().host_config([HostGpu(UUID_A, 0)])["DeviceRequests"]},
            "'nvidia' device request",
        ),
        ({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}, "HostConfig keys Ulimits"),
        ({"Binds": ["/a:/b:ro,z"]}, "only ro or rw"),
        ({"LogConfig": {"Type": "journald"}}, "log driver 'journald'"),
        ({"NetworkMode": "container:abc"}, "network mode"),
    ],
)
def test_the_libpod_spec_refuses_what_it_cannot_carry_faithfully(change, reason):
    with pytest.raises(ValueError, match=reason):
        libpod_spec("n", _docker_body(**change), [])


def test_unknown_top_level_keys_are_refused():
    with pytest.raises(ValueError, match="container keys Volumes"):
        libpod_spec("n", {**_docker_body(), "Volumes": {"/data": {}}}, [])


def test_the_cdi_binding_names_gpus_by_uuid_and_asks_docker_through_device_requests():
    gpus = [HostGpu(UUID_A, 0), HostGpu(UUID_B, 3)]
    names = [f"nvidia.com/gpu={UUID_A}", f"nvidia.com/gpu={UUID_B}"]
    assert CdiDevices().names(gpus) == names
    assert CdiDevices().host_config(gpus) == {
        "DeviceRequests": [{"Driver": "cdi", "DeviceIDs": names}]
    }


# -- on podman ---------------------------------------------------------------------------------
def _cdi_backend(podman_engine, state_dir: Path, **config: Any) -> ContainerBackend:
    return backend(podman_engine, state_dir, binding=CdiDevices(), gpu_binding="cdi", **config)


@pytest.fixture
async def host(podman_engine, tmp_path) -> AsyncIterator[ContainerBackend]:
    async with running(_cdi_backend(podman_engine, tmp_path / "agent")) as b:
        yield b


@pytest.mark.engine
async def test_two_renters_get_exactly_their_own_gpu_by_cdi_uuid(podman_engine, host, renters):
    alice, bob = renters
    (gpu_a, minor_a), (gpu_b, minor_b) = podman_engine.gpus[0], podman_engine.gpus[2]
    a, b = await asyncio.gather(
        host.grant("401", alice.public_key, expiry(), request(podman_engine, [gpu_a])),
        host.grant("402", bob.public_key, expiry(), request(podman_engine, [gpu_b])),
    )
    assert a.gpu_uuids == (gpu_a,) and b.gpu_uuids == (gpu_b,)
    assert a.host_key_fingerprint != b.host_key_fingerprint
    # the GPU's node and the spec's common nodes (nvidiactl, nvidia-uvm), nothing else
    nodes_a = set((await sh(a, alice, "cd /dev && echo nvidia*")).split())
    nodes_b = set((await sh(b, bob, "cd /dev && echo nvidia*")).split())
    assert nodes_a == {f"nvidia{minor_a}", "nvidiactl", "nvidia-uvm"}
    assert nodes_b == {f"nvidia{minor_b}", "nvidiactl", "nvidia-uvm"}
    status, out = await sh_status(
        a,
        alice,
        f'python3 -c \'open("/dev/nvidia{minor_a}", "rb")\' 2>&1; '
        f"mknod /tmp/stolen c {NVIDIA_MAJOR} {minor_b} 2>&1; id -u",
    )
    assert "No such device or address" in out  # granted: a fake GPU has no driver behind it
    assert "Operation not permitted" in out and out.split()[-1] == "0"  # root, yet refused
    if podman_engine.cgroup_version == 1:
        allowed = (await sh(a, alice, "cat /sys/fs/cgroup/devices/devices.list")).splitlines()
        gpu_rules = [r for r in allowed if r.split()[1].split(":")[0] in {"195", "511"}]
        assert sorted(gpu_rules) == sorted(
            [
                f"c {NVIDIA_MAJOR}:{minor_a} rwm",
                f"c {NVIDIA_MAJOR}:{NVIDIACTL_MINOR} rwm",
                f"c {UVM_MAJOR}:0 rwm",
            ]
        )
        assert "a *:* rwm" not in allowed


@pytest.mark.engine
async def test_limits_and_hardening_are_in_place(podman_engine, host, renters):
    alice, _ = renters
    limits = InstanceLimits(cpu_millis=1000, memory_mib=640, disk_gib=2, shm_mib=96, pids=300)
    a = await host.grant(
        "403",
        alice.public_key,
        expiry(),
        request(podman_engine, [podman_engine.gpus[1][0]], limits=limits),
    )
    if podman_engine.cgroup_version == 1:
        files = (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
            " /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
            " /sys/fs/cgroup/cpu/cpu.cfs_period_us"
        )
    else:
        files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"
    values = (await sh(a, alice, f"cat {files} 2>/dev/null; df -k /dev/shm | tail -1")).split()
    assert values.count(str(640 * 1024 * 1024)) == (2 if podman_engine.cgroup_version == 1 else 1)
    assert "300" in values and "100000" in values  # a whole core: quota = period
    assert str(96 * 1024) in values
    status, out = await sh_status(
        a, alice, "for i in $(seq 400); do sleep 3 & done 2>&1 | tail -1; echo done"
    )
    assert "Resource temporarily unavailable" in out or "retry" in out.lower()
    status_lines = await sh(a, alice, "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")
    fields = dict(line.split(":\t") for line in status_lines.splitlines())
    assert fields["NoNewPrivs"] == "1"
    dropped = {13: "NET_RAW", 18: "SYS_CHROOT", 27: "MKNOD", 29: "AUDIT_WRITE"}
    assert not [n for bit, n in dropped.items() if int(fields["CapEff"], 16) >> bit & 1]
    [container] = await host.engine.containers({"rigshare.rental": "403"})
    binds = [m["Destination"] for m in (await host.engine.inspect(container["Id"]))["Mounts"]]
    inside = (await sh(a, alice, "cat /proc/mounts")).splitlines()
    options = {line.split()[1]: line.split()[3].split(",")[0] for line in inside}
    assert len(binds) == 4 and {b: options.get(b) for b in binds} == dict.fromkeys(binds, "ro")


@pytest.mark.engine
async def test_ssh_and_a_published_port_answer_on_the_publish_address(podman_engine, host, renters):
    alice, _ = renters
    a = await host.grant(
        "404",
        alice.public_key,
        expiry(),
        request(podman_engine, [podman_engine.gpus[3][0]], ports=[8080]),
    )
    assert (await sh(a, alice, "id -un; hostname")).split() == ["root", "rental-404"]
    await sh(a, alice, "cd /root && (python3 -m http.server 8080 >/dev/null 2>&1 &); sleep 1")
    host_port = dict(a.ports)[8080]
    assert host_port > 1024 and host_port != a.port
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://{a.host}:{host_port}/", timeout=5).read()
    )
    assert b"Directory listing" in body


def _forward_jump(podman_engine, *how: str) -> None:
    podman_engine.run_in_netns(["iptables", "-w", "10", *how, "FORWARD", "-j", "DOCKER-USER"])


@pytest.mark.engine
async def test_neighbours_the_host_and_the_lan_stay_out_of_reach_below_cnis_own_rules(
    podman_engine, tmp_path, renters
):
    alice, bob = renters
    # a host where nobody turned on netfilter for bridged traffic (podman never does)
    podman_engine.run_in_netns(["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"])
    host = _cdi_backend(podman_engine, tmp_path / "agent")
    await host.start()
    sysctl = podman_engine.run_in_netns(["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"])
    assert sysctl.stdout.strip() == "1"
    try:
        a = await host.grant(
            "405", alice.public_key, expiry(), request(podman_engine, [podman_engine.gpus[0][0]])
        )
        b = await host.grant(
            "406", bob.public_key, expiry(), request(podman_engine, [podman_engine.gpus[1][0]])
        )
        # as on a fresh host: CNI put its FORWARD rules (which accept everything a container
        # sends) above DOCKER-USER when the first container started
        _forward_jump(podman_engine, "-D")
        _forward_jump(podman_engine, "-A")
        await sh(
            a,
            alice,
            "(python3 -m http.server 7000 --bind 0.0.0.0 >/dev/null 2>&1 &); sleep 1",
        )
        ip_a = (await sh(a, alice, "hostname -i")).split()[0]
        probe = "timeout 2 bash -c 'echo > /dev/tcp/{0}/{1}' && echo OPEN-{0} || echo closed-{0}"
        with (
            podman_engine.serve_tcp(podman_engine.netns, podman_engine.host_address, 9101),
            podman_engine.serve_tcp(HOST_NAMESPACE, podman_engine.lan_address, 9102),
            podman_engine.serve_tcp(podman_engine.wan_netns, podman_engine.wan_address, 9103),
        ):
            gateway = (await sh(b, bob, "ip route | awk '/default/ {print $3}'")).strip()
            targets = [
                (ip_a, 7000),
                (podman_engine.host_address, 9101),
                (gateway, 9101),
                (podman_engine.lan_address, 9102),
                ("169.254.169.254", 80),
                (podman_engine.wan_address, 9103),
            ]
            out = await sh(b, bob, "; ".join(probe.format(*t) for t in targets))
        for address, _ in targets[:-1]:
            assert f"closed-{address}" in out, out
        assert f"OPEN-{podman_engine.wan_address}" in out  # egress to the internet is allowed
        assert (
            await sh(a, alice, f"timeout 2 bash -c 'echo > /dev/tcp/{ip_a}/7000' && echo own")
        ) == "own\n"
    finally:
        _forward_jump(podman_engine, "-D")
        _forward_jump(podman_engine, "-I")
        for rental in await host.active():
            await host.cleanup(rental)
        await host.close()


@pytest.mark.engine
async def test_revoke_leaves_nothing_and_frees_the_gpu(podman_engine, host, renters):
    alice, bob = renters
    gpu = podman_engine.gpus[2][0]
    a = await host.grant("407", alice.public_key, expiry(), request(podman_engine, [gpu]))
    marker = f"model-{time.time_ns()}.bin"
    await sh(
        a,
        alice,
        f"head -c 100000 /dev/urandom > /root/{marker}; "
        "nohup setsid sleep 31338 >/dev/null 2>&1 </dev/null &",
    )
    [container] = await host.engine.containers({"rigshare.rental": "407"})
    networks = (await host.engine.inspect(container["Id"]))["NetworkSettings"]["Networks"]
    ip = next(iter(networks.values()))["IPAddress"]
    root = Path((await host.engine.info())["DockerRootDir"])
    assert await asyncio.to_thread(lambda: list(root.rglob(marker)))  # in the writable layer
    assert await _host_has("sleep 31338")
    await host.revoke("407")
    assert await host.engine.inspect(container["Id"]) is None
    assert await asyncio.to_thread(lambda: list(root.rglob(marker))) == []
    assert not await _host_has("sleep 31338")
    assert not (host.instances_dir / "407").exists()
    rules = podman_engine.run_in_netns(["sh", "-c", "iptables -S; iptables -t nat -S"]).stdout
    assert f"{ip}/32" not in rules  # CNI took its per-container rules away
    again = await host.grant("408", bob.public_key, expiry(), request(podman_engine, [gpu]))
    assert again.gpu_uuids == (gpu,)


async def _host_has(marker: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "pgrep", "-f", marker, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return bool(out.strip())


@pytest.mark.engine
async def test_podman_refuses_a_gpu_binding_its_compatible_api_would_ignore(
    podman_engine, tmp_path, renters
):
    alice, _ = renters
    host = backend(podman_engine, tmp_path / "agent", binding=NvidiaRuntime(), gpu_binding="nvidia")
    await host.start()
    try:
        with pytest.raises(
            EngineError, match='podman ignores the nvidia GPU binding: set gpu_binding = "cdi"'
        ):
            await host.grant(
                "409",
                alice.public_key,
                expiry(),
                request(podman_engine, [podman_engine.gpus[3][0]]),
            )
        assert await host.active() == set()
        assert not (host.instances_dir / "409").exists()
    finally:
        await host.close()
