"""A private dockerd inside the provider namespace, everything it owns under one directory.

``<workdir>/docker.sock`` (API), ``data/`` (data root: a loop file system with quotas when
possible, see ``mounts``, so ``--storage-opt size=`` works; a plain directory otherwise, and
``disk_limits`` says which after a real probe), ``exec/`` (exec root, containerd's state),
``docker.pid``, ``dockerd.log``, ``daemon.json`` (so the host's /etc/docker/daemon.json is
never read) and ``key.json`` (so the host's /etc/docker/key.json is never written). Its
containers live in a cgroup subtree of their own. Nothing is shared with another harness or a
host dockerd.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.engine import cgroups, mounts
from tests.engine.daemons import (
    Daemon,
    HarnessError,
    kill_pids,
    pids_whose_cmdline_mentions,
    start_daemon,
)
from tests.engine.netns import in_netns
from tests.engine.unixhttp import EngineApiError, UnixHttp

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DockerDaemon:
    socket_path: Path
    data_root: Path
    log_path: Path
    pid: int
    cgroup_parent: str
    storage_driver: str  # "overlay2" or "btrfs"
    data_root_filesystem: str  # "xfs-pquota", "btrfs" or "plain"
    disk_limits: bool  # a container with StorageOpt size= was created: the option works
    disk_limits_notes: str  # why not, or why a second choice of file system

    @property
    def api(self) -> UnixHttp:
        return UnixHttp(self.socket_path)


@contextlib.contextmanager
def running_dockerd(netns: str, workdir: Path, cgroup_parent: str) -> Iterator[DockerDaemon]:
    """dockerd in ``netns`` until the block ends; then every container is removed, dockerd
    stopped by PID, its leftovers killed and unmounted. HarnessError (with the log) when it
    does not come up."""
    if shutil.which("dockerd") is None:
        raise HarnessError("dockerd is not installed (Debian package docker.io)")
    workdir.mkdir(parents=True, exist_ok=True)
    data_root = mounts.mount_data_root(workdir)
    config = workdir / "daemon.json"
    config.write_text(
        json.dumps(_daemon_config(data_root.storage_driver, cgroup_parent, workdir / "key.json"))
    )
    socket_path = workdir / "docker.sock"
    argv = [
        "dockerd",
        f"--host=unix://{socket_path}",
        f"--config-file={config}",
        f"--data-root={data_root.path}",
        f"--exec-root={workdir / 'exec'}",
        f"--pidfile={workdir / 'docker.pid'}",
    ]
    daemon = start_daemon("dockerd", in_netns(netns, argv), workdir / "dockerd.log")
    try:
        _wait_ready(daemon, UnixHttp(socket_path))
        refusal = _storage_size_refusal(UnixHttp(socket_path))
        yield DockerDaemon(
            socket_path=socket_path,
            data_root=data_root.path,
            log_path=daemon.log_path,
            pid=daemon.pid,
            cgroup_parent=cgroup_parent,
            storage_driver=data_root.storage_driver,
            data_root_filesystem=data_root.filesystem,
            disk_limits=refusal is None,
            disk_limits_notes="; ".join(filter(None, [data_root.notes, refusal])),
        )
    finally:
        _stop(daemon, UnixHttp(socket_path), workdir, cgroup_parent)


def _daemon_config(storage_driver: str, cgroup_parent: str, key_path: Path) -> dict[str, object]:
    return {
        "deprecated-key-path": str(key_path),
        "storage-driver": storage_driver,
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "cgroup-parent": cgroup_parent,
        "log-driver": "json-file",
        "log-level": "info",
    }


def _wait_ready(daemon: Daemon, api: UnixHttp) -> None:
    try:
        api.wait_for_ping(START_TIMEOUT_S, alive=daemon.alive)
    except EngineApiError as exc:
        daemon.stop()
        raise daemon.fail(str(exc)) from None


def _storage_size_refusal(api: UnixHttp) -> str | None:
    """None when dockerd accepts ``StorageOpt size`` on container create, else its refusal.

    Asked of the engine itself because only it knows (quota support is probed per data root
    at start). A one-file image is imported for the probe and removed with its container.
    """
    probe_image = f"rigshare-probe-{secrets.token_hex(4)}"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("probe"), io.BytesIO(b""))
    api.stream_json(
        "POST",
        "/images/create",
        query={"fromSrc": "-", "repo": probe_image, "tag": "1"},
        body=layer.getvalue(),
    )
    try:
        created = api.request(
            "POST",
            "/containers/create",
            json_body={
                "Image": f"{probe_image}:1",
                "Cmd": ["/probe"],
                "HostConfig": {"StorageOpt": {"size": "64M"}},
            },
        )
        if created.status != 201:
            return f"dockerd refuses StorageOpt size: {created.body.decode(errors='replace')}"
        api.call("DELETE", f"/containers/{created.json()['Id']}", query={"force": "1"})
        return None
    finally:
        api.call("DELETE", f"/images/{probe_image}:1", query={"force": "1"})


def _stop(daemon: Daemon, api: UnixHttp, workdir: Path, cgroup_parent: str) -> None:
    if daemon.alive():
        with contextlib.suppress(OSError, EngineApiError):
            for container in api.call("GET", "/containers/json", query={"all": "1"}):
                api.request("DELETE", f"/containers/{container['Id']}", query={"force": "1"})
    daemon.stop()
    # containerd and shims outlive a SIGKILLed dockerd; container processes outlive shims.
    kill_pids(pids_whose_cmdline_mentions(str(workdir)))
    cgroups.kill_subtree(cgroup_parent)
    mounts.unmount_tree(workdir)
