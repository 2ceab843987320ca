"""A private ``podman system service`` inside the provider namespace, under one directory.

``<workdir>/podman.sock`` serves both of podman's APIs: the Docker-compatible one (``/v1.41/...``
or unversioned) and libpod's (``/v4.0.0/libpod/...``). The service gets its own storage
(``--root``, ``--runroot``), libpod state (``--tmpdir``), file locks instead of the host-wide
``/dev/shm/libpod_lock`` segment, a CNI network config directory whose IPAM state stays in the
work directory, its own registries.conf (the harness registry on 127.0.0.1:5000 over plain
HTTP, no search registries), and events in a file. Containers run with the cgroupfs manager.

CDI on podman 4.3.1 (Debian 12), checked with real containers by test_harness.py:

* Only the libpod API resolves CDI names: ``POST /v4.0.0/libpod/containers/create`` with
  ``"devices": [{"path": "nvidia.com/gpu=GPU-<uuid>"}]`` gives the container exactly that
  GPU's node plus the spec's common nodes (nvidiactl, nvidia-uvm), and the device cgroup
  refuses every other GPU.
* The Docker-compatible API does not. ``HostConfig.Devices`` with ``PathOnHost`` set to the
  CDI name is joined with ``PathInContainer`` and ``CgroupPermissions`` into one string, and
  start fails with "unresolvable CDI devices nvidia.com/gpu=GPU-...::rwm"; leaving those two
  empty makes create fail ("stat nvidia.com/gpu=...: no such file or directory").
  ``HostConfig.DeviceRequests`` (driver "cdi" or "nvidia") is accepted and silently
  ignored: the container starts without any GPU.
* There is no per-process setting for the CDI spec directories (``cdi_spec_dirs`` in
  containers.conf came with a later containers/common): podman reads ``/etc/cdi`` and
  ``/var/run/cdi`` only. The harness writes its spec to
  ``/etc/cdi/rigshare-test-<random>.json`` and removes it at teardown (or the next harness
  sweeps it). Two harnesses at once both define the index names "0".."3"; CDI drops names
  that two specs define, so name GPUs by UUID (unique per harness), as the backend should.

Rootful podman raises each container's nofile/nproc limits to 1048576 by default, which needs
CAP_SYS_RESOURCE; see ``_inherited_ulimits`` for why and how the harness avoids it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.engine.daemons import (
    Daemon,
    HarnessError,
    kill_pids,
    pids_whose_cmdline_mentions,
    start_daemon,
)
from tests.engine.mounts import unmount_tree
from tests.engine.netns import in_netns
from tests.engine.registry import ADDRESS as REGISTRY_ADDRESS
from tests.engine.unixhttp import EngineApiError, UnixHttp

START_TIMEOUT_S = 30.0
CDI_DIR = Path("/etc/cdi")
LIBPOD_PREFIX = "/v4.0.0/libpod"
RLIMIT_DEFAULT = 1048576  # what podman would give a container without default_ulimits


@dataclass(frozen=True)
class PodmanService:
    socket_path: Path
    root: Path
    log_path: Path
    pid: int

    @property
    def api(self) -> UnixHttp:
        return UnixHttp(self.socket_path)


@contextlib.contextmanager
def running_podman(netns: str, workdir: Path) -> Iterator[PodmanService]:
    """The service in ``netns`` until the block ends; then every container is removed, the
    service stopped by PID, its leftovers killed and unmounted. HarnessError (with the log)
    when it does not come up."""
    if shutil.which("podman") is None:
        raise HarnessError("podman is not installed (Debian package podman)")
    workdir.mkdir(parents=True, exist_ok=True)
    env = _write_configs(workdir)
    socket_path = workdir / "podman.sock"
    argv = [
        "podman",
        f"--root={workdir / 'root'}",
        f"--runroot={workdir / 'runroot'}",
        f"--tmpdir={workdir / 'libpod'}",
        f"--network-config-dir={workdir / 'cni'}",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
        "--storage-driver=overlay",
        "system",
        "service",
        "--time=0",
        f"unix://{socket_path}",
    ]
    daemon = start_daemon("podman", in_netns(netns, argv), workdir / "podman.log", env=env)
    api = UnixHttp(socket_path)
    try:
        _wait_ready(daemon, api)
        yield PodmanService(socket_path, workdir / "root", daemon.log_path, daemon.pid)
    finally:
        _stop(daemon, api, workdir)


def cdi_spec_path() -> Path:
    """A fresh file name in the CDI directory podman reads (see the module docstring)."""
    return CDI_DIR / f"rigshare-test-{secrets.token_hex(4)}.json"


def _write_configs(workdir: Path) -> dict[str, str]:
    containers_conf = workdir / "containers.conf"
    containers_conf.write_text(
        "[engine]\n"
        f'tmp_dir = "{workdir / "libpod"}"\n'
        'lock_type = "file"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{workdir / "events.log"}"\n'
        'cgroup_manager = "cgroupfs"\n'
        f'volume_path = "{workdir / "volumes"}"\n'
        "[containers]\n"
        f"default_ulimits = {json.dumps(_inherited_ulimits())}\n"
        "[network]\n"
        'network_backend = "cni"\n'
        f'network_config_dir = "{workdir / "cni"}"\n'
    )
    registries_conf = workdir / "registries.conf"
    registries_conf.write_text(
        "unqualified-search-registries = []\n"
        "[[registry]]\n"
        f'location = "{REGISTRY_ADDRESS}"\n'
        "insecure = true\n"
    )
    storage_conf = workdir / "storage.conf"
    storage_conf.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{workdir / "root"}"\n'
        f'runroot = "{workdir / "runroot"}"\n'
    )
    cni = workdir / "cni"
    cni.mkdir(exist_ok=True)
    (cni / "87-podman.conflist").write_text(json.dumps(_cni_network(workdir / "cni-ipam")))
    return {
        **os.environ,
        "CONTAINERS_CONF": str(containers_conf),
        "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
        "CONTAINERS_STORAGE_CONF": str(storage_conf),
    }


def _inherited_ulimits() -> list[str]:
    # A rootful podman raises every container's nofile and nproc limits to 1048576 unless told
    # otherwise, which needs CAP_SYS_RESOURCE whenever that is above this process's hard
    # limit; sandboxed CI machines (and this project's VM) drop that capability, and container
    # start then fails with "error setting rlimit type 7: operation not permitted". Podman
    # also lowers its own nproc limit to kernel.pid_max when it starts (observed on 4.3.1), so
    # a container may have no more than that either.
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    limits = []
    for name, which, cap in (
        ("nofile", resource.RLIMIT_NOFILE, None),
        ("nproc", resource.RLIMIT_NPROC, pid_max),
    ):
        _, hard = resource.getrlimit(which)
        allowed = [
            v for v in (hard, cap, RLIMIT_DEFAULT) if v not in (None, resource.RLIM_INFINITY)
        ]
        value = min(allowed)
        limits.append(f"{name}={value}:{value}")
    return limits


def _cni_network(ipam_dir: Path) -> dict[str, object]:
    # podman's default network, as Debian ships it, with the IPAM leases kept in the work
    # directory instead of the host-wide /var/lib/cni/networks.
    return {
        "cniVersion": "0.4.0",
        "name": "podman",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni-podman0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
            {"type": "tuning"},
        ],
    }


def _wait_ready(daemon: Daemon, api: UnixHttp) -> None:
    try:
        api.wait_for_ping(START_TIMEOUT_S, alive=daemon.alive)
    except EngineApiError as exc:
        daemon.stop()
        raise daemon.fail(str(exc)) from None


def _stop(daemon: Daemon, api: UnixHttp, workdir: Path) -> None:
    if daemon.alive():
        with contextlib.suppress(OSError, EngineApiError):
            for container in api.call("GET", "/containers/json", query={"all": "1"}):
                api.request("DELETE", f"/containers/{container['Id']}", query={"force": "1"})
    daemon.stop()
    # conmon (and through it a container) outlives a SIGKILLed service; its command line
    # names the work directory.
    kill_pids(pids_whose_cmdline_mentions(str(workdir)))
    unmount_tree(workdir)
