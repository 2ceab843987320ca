"""The harness itself, on the real engines: images, GPUs, disk limits, namespaces, cleanup.

Each check has a control where a silent failure would look like success: a GPU that must be
unreachable is shown to be refused by the device cgroup (EPERM) while the granted one is only
driverless (ENXIO); a service that must be unreachable from the namespace is shown to be up.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine import containers, leftovers, netns
from tests.engine.cgroups import cgroup_version
from tests.engine.fixtures import HOST_NAMESPACE, EngineHarness
from tests.engine.recipes import RECIPES
from tests.engine.unixhttp import EngineApiError

# Runs in the base image: what /dev holds and what opening the fake GPUs does.
_PROBE_GPUS = """
import errno, glob, json, os
def attempt(path):
    try:
        os.close(os.open(path, os.O_RDWR))
        return "opened"
    except OSError as exc:
        return errno.errorcode[exc.errno]
os.mknod("/tmp/gpu0", 0o666 | 0o020000, os.makedev(195, 0))
print(json.dumps({
    "nodes": sorted(glob.glob("/dev/nvidia*")),
    "granted": {path: attempt(path) for path in sorted(glob.glob("/dev/nvidia*"))},
    "gpu0_made_by_mknod": attempt("/tmp/gpu0"),
}))
"""


def test_images_come_from_the_local_registry(docker_engine: EngineHarness) -> None:
    api = docker_engine.api
    assert set(docker_engine.images) == {recipe.name for recipe in RECIPES}
    served = {}
    for name, reference in docker_engine.images.items():
        assert reference.startswith(f"{docker_engine.registry}/rigshare-test/{name}:"), reference
        # dockerd asks the registry for the manifest: every image is served.
        served[name] = api.call("GET", f"/distribution/{reference}/json")["Descriptor"]["digest"]

    base = docker_engine.images["base"]
    containers.pull(api, base)
    image = api.call("GET", f"/images/{base}/json")
    assert image["RepoDigests"] == [f"{base.rsplit(':', 1)[0]}@{served['base']}"]
    assert image["Config"]["Cmd"] == ["/bin/bash"]
    result = containers.run(
        api,
        base,
        ["bash", "-c", "grep VERSION_CODENAME /etc/os-release; python3 -V; ls /usr/sbin/sshd"],
    )
    assert "VERSION_CODENAME=bookworm" in result.output
    assert "Python 3.11" in result.output
    assert "ls: cannot access '/usr/sbin/sshd'" in result.output, "base must ship without sshd"


def test_tiny_image_is_busybox_without_a_c_library(docker_engine: EngineHarness) -> None:
    containers.pull(docker_engine.api, docker_engine.images["tiny"])
    result = containers.run(
        docker_engine.api,
        docker_engine.images["tiny"],
        ["sh", "-c", "ls /lib /lib64 /usr/lib 2>&1; readlink /bin/sh; cat /etc/shells; id -un"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("No such file or directory") == 3, result.output
    assert "/bin/busybox\n/bin/sh\n" in result.output
    assert result.output.endswith("root\n")


def test_a_container_sees_only_the_gpu_it_was_given(docker_engine: EngineHarness) -> None:
    uuid, minor = docker_engine.gpus[1]
    assert uuid.startswith("GPU-") and minor == 1
    containers.pull(docker_engine.api, docker_engine.images["base"])
    device = {
        "PathOnHost": str(docker_engine.device_dir / f"nvidia{minor}"),
        "PathInContainer": f"/dev/nvidia{minor}",
        "CgroupPermissions": "rwm",
    }
    result = containers.run(
        docker_engine.api,
        docker_engine.images["base"],
        ["python3", "-c", _PROBE_GPUS],
        {"Devices": [device]},
    )
    assert result.exit_code == 0, result.output
    seen = json.loads(result.output)
    assert seen["nodes"] == ["/dev/nvidia1"]
    assert seen["granted"] == {"/dev/nvidia1": "ENXIO"}, "granted, but no driver behind it"
    assert seen["gpu0_made_by_mknod"] == "EPERM", "the device cgroup must refuse GPU 0"


def test_storage_opt_size_limits_the_container_disk(private_docker_engine: EngineHarness) -> None:
    docker_engine = private_docker_engine
    if not docker_engine.disk_limits:
        pytest.skip(f"no disk limits on this machine ({docker_engine.storage_driver} data root)")
    containers.pull(docker_engine.api, docker_engine.images["tiny"])
    result = containers.run(
        docker_engine.api,
        docker_engine.images["tiny"],
        ["sh", "-c", "dd if=/dev/zero of=/fill bs=1M count=2048; echo size=$(wc -c < /fill)"],
        {"StorageOpt": {"size": "1G"}},
    )
    assert "Disk quota exceeded" in result.output or "No space left" in result.output, result.output
    size = int(result.output.rsplit("size=", 1)[1])
    assert 900 << 20 < size <= 1 << 30, result.output


def test_podman_gives_exactly_the_cdi_gpu_named_by_uuid(podman_engine: EngineHarness) -> None:
    assert podman_engine.cdi_spec is not None and podman_engine.cdi_spec.exists()
    uuid, minor = podman_engine.gpus[2]
    containers.pull(podman_engine.api, podman_engine.images["tiny"])
    script = (
        "ls /dev | grep nvidia; mknod /tmp/gpu0 c 195 0; "
        f"cat /dev/nvidia{minor}; cat /tmp/gpu0; cat /dev/nvidiactl"
    )
    result = containers.run_libpod(
        podman_engine.api,
        {
            "image": podman_engine.images["tiny"],
            "command": ["sh", "-c", script],
            "devices": [{"path": f"nvidia.com/gpu={uuid}"}],
        },
    )
    lines = result.output.splitlines()
    assert [line for line in lines if not line.startswith("cat:")] == [
        "nvidia-uvm",
        f"nvidia{minor}",
        "nvidiactl",
    ]
    assert f"cat: can't open '/dev/nvidia{minor}': No such device or address" in lines
    assert "cat: can't open '/tmp/gpu0': Operation not permitted" in lines
    assert "cat: can't open '/dev/nvidiactl': No such device or address" in lines


def test_podman_compat_api_does_not_resolve_cdi_names(podman_engine: EngineHarness) -> None:
    """Pins the podman 4.3 finding documented in tests/engine/podman.py: only the libpod API
    resolves CDI names. If this starts failing, podman learned it; update the docstring."""
    uuid, _ = podman_engine.gpus[0]
    api, image = podman_engine.api, podman_engine.images["tiny"]
    containers.pull(api, image)
    devices = [
        {"PathOnHost": f"nvidia.com/gpu={uuid}", "PathInContainer": "", "CgroupPermissions": "rwm"}
    ]
    with pytest.raises(EngineApiError, match="unresolvable CDI devices"):
        containers.run(api, image, ["true"], {"Devices": devices})
    requests = [{"Driver": "cdi", "DeviceIDs": [f"nvidia.com/gpu={uuid}"]}]
    ignored = containers.run(api, image, ["sh", "-c", "ls /dev"], {"DeviceRequests": requests})
    assert ignored.exit_code == 0 and "nvidia" not in ignored.output, "silently ignored"


def test_the_namespace_cannot_reach_the_hosts_loopback(docker_engine: EngineHarness) -> None:
    with docker_engine.serve_tcp(HOST_NAMESPACE, "127.0.0.1", 0) as server:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()  # it is up
        for address in ("127.0.0.1", docker_engine.lan_address):
            probe = docker_engine.run_in_netns(
                [sys.executable, "-c", _connect(address, server.port)]
            )
            assert probe.stdout.strip() == "ConnectionRefusedError", (address, probe)
    assert server.peers() == ["127.0.0.1"], "only the control connection got through"


def test_the_provider_lan_is_reachable_from_the_namespace(docker_engine: EngineHarness) -> None:
    with docker_engine.serve_tcp(HOST_NAMESPACE, docker_engine.lan_address, 0) as server:
        probe = docker_engine.run_in_netns(
            [sys.executable, "-c", _connect(docker_engine.lan_address, server.port)]
        )
        assert probe.stdout.strip() == "connected", probe
    assert server.peers() == [docker_engine.host_address]
    # ... and no further: the host routes nothing that comes out of the namespace.
    forwarding = Path(f"/proc/sys/net/ipv4/conf/{docker_engine.netns}/forwarding")
    assert forwarding.read_text().strip() == "0"


def test_a_container_reaches_the_wan_address(docker_engine: EngineHarness) -> None:
    containers.pull(docker_engine.api, docker_engine.images["tiny"])
    with docker_engine.serve_tcp(docker_engine.wan_netns, docker_engine.wan_address, 0) as server:
        url = f"http://{docker_engine.wan_address}:{server.port}/"
        result = containers.run(
            docker_engine.api, docker_engine.images["tiny"], ["wget", "-qO-", url]
        )
    assert (result.exit_code, result.output) == (0, "ok\n")
    assert server.peers() == [netns.WAN_PEER_ADDRESS], "masqueraded by the provider host"


def test_a_renter_reaches_a_published_port_on_the_host_address(
    docker_engine: EngineHarness,
) -> None:
    api, image = docker_engine.api, docker_engine.images["tiny"]
    containers.pull(api, image)
    created = api.call(
        "POST",
        "/containers/create",
        json_body={
            "Image": image,
            "Cmd": ["sh", "-c", "echo hello-renter | nc -l -p 8080"],
            "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": docker_engine.host_address}]}},
        },
    )
    try:
        api.call("POST", f"/containers/{created['Id']}/start")
        ports = api.call("GET", f"/containers/{created['Id']}/json")["NetworkSettings"]["Ports"]
        binding = ports["8080/tcp"][0]
        assert binding["HostIp"] == docker_engine.host_address
        assert (
            _read_when_listening(docker_engine.host_address, int(binding["HostPort"]))
            == b"hello-renter\n"
        )
    finally:
        api.request("DELETE", f"/containers/{created['Id']}", query={"force": "1"})


def test_engine_reports_the_hosts_cgroup_version(
    docker_engine: EngineHarness, podman_engine: EngineHarness
) -> None:
    assert docker_engine.cgroup_version == podman_engine.cgroup_version == cgroup_version()
    assert docker_engine.netns != podman_engine.netns
    assert docker_engine.lan_address != podman_engine.lan_address


@pytest.mark.usefixtures("engine_prerequisites")
def test_an_orphaned_harness_is_swept() -> None:
    network = netns.create_provider_network()
    workdir = Path(tempfile.gettempdir()) / f"{leftovers.WORKDIR_PREFIX}{network.netns}"
    try:
        workdir.mkdir()
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        record = {
            "owner_pid": int(gone.stdout),
            "owner_start": "0",
            "netns": [network.netns, network.wan_netns],
        }
        (workdir / leftovers.RECORD).write_text(json.dumps(record))
        sleeper = subprocess.Popen(netns.in_netns(network.netns, ["sleep", "60"]))
        _eventually(lambda: sleeper.pid in netns.pids_in_netns(network.netns))

        assert workdir in leftovers.sweep()

        assert sleeper.wait(timeout=5) == -9
        assert not netns.netns_path(network.netns).exists()
        assert not netns.netns_path(network.wan_netns).exists()
        assert not workdir.exists()
    finally:
        netns.delete_provider_network(network)
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_live_harness_is_not_swept(docker_engine: EngineHarness) -> None:
    assert docker_engine.workdir not in leftovers.sweep()
    assert docker_engine.api.ping()


def _connect(address: str, port: int) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=2).close()\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__)\n"
    )


def _eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not true within {within} s"
        time.sleep(0.02)


def _read_when_listening(address: str, port: int, within: float = 10.0) -> bytes:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(OSError), socket.create_connection((address, port), 2) as conn:
            data = conn.recv(100)
            if data:
                return data
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on {address}:{port} in {within} s")
        time.sleep(0.1)
