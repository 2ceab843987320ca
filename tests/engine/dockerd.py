"""A private dockerd inside the provider namespace, everything it owns under one directory.

``<workdir>/docker.sock`` (API), ``data/`` (data root: an XFS loop mount with project quotas
when possible, so ``--storage-opt size=`` works; a plain directory otherwise and
``disk_limits`` is False), ``exec/`` (exec root, containerd's state), ``docker.pid``,
``dockerd.log``, ``daemon.json`` (so the host's /etc/docker/daemon.json is never read) and
``key.json`` (so the host's /etc/docker/key.json is never written). Its containers live in a
cgroup subtree of their own. Nothing is shared with another harness or a host dockerd.
"""

from __future__ import annotations

import contextlib
import json
import shutil
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
    xfs_data_root: bool  # overlay2 on XFS with pquota: the precondition for disk limits
    xfs_reason: str  # why not, when it is not

    @property
    def api(self) -> UnixHttp:
        return UnixHttp(self.socket_path)


@contextlib.contextmanager
def running_dockerd(netns: str, workdir: Path, name: str) -> Iterator[DockerDaemon]:
    """dockerd in ``netns`` until the block ends; then every container is removed, dockerd
    stopped by PID, its leftovers killed and unmounted. HarnessError (with the log) when it
    does not come up."""
    if shutil.which("dockerd") is None:
        raise HarnessError("dockerd is not installed (Debian package docker.io)")
    workdir.mkdir(parents=True, exist_ok=True)
    data_root = workdir / "data"
    xfs_mounted, xfs_reason = mounts.mount_xfs_pquota(workdir / "data.xfs", data_root)
    data_root.mkdir(exist_ok=True)
    cgroup_parent = f"/rigshare-test-{name}"
    config = workdir / "daemon.json"
    config.write_text(json.dumps(_daemon_config(cgroup_parent)))
    socket_path = workdir / "docker.sock"
    argv = [
        "dockerd",
        f"--host=unix://{socket_path}",
        f"--config-file={config}",
        f"--data-root={data_root}",
        f"--exec-root={workdir / 'exec'}",
        f"--pidfile={workdir / 'docker.pid'}",
        f"--deprecated-key-path={workdir / 'key.json'}",
    ]
    daemon = start_daemon("dockerd", in_netns(netns, argv), workdir / "dockerd.log")
    try:
        _wait_ready(daemon, UnixHttp(socket_path))
        yield DockerDaemon(
            socket_path=socket_path,
            data_root=data_root,
            log_path=daemon.log_path,
            pid=daemon.pid,
            cgroup_parent=cgroup_parent,
            xfs_data_root=xfs_mounted,
            xfs_reason=xfs_reason,
        )
    finally:
        _stop(daemon, UnixHttp(socket_path), workdir, cgroup_parent)


def _daemon_config(cgroup_parent: str) -> dict[str, object]:
    return {
        "storage-driver": "overlay2",
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
