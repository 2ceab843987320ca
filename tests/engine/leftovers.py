"""What a harness must not leave behind, even when its pytest was killed with SIGKILL.

Each harness notes in ``<workdir>/harness.json`` who owns it (PID and start time of the owning
process) and what it made outside the work directory (network namespaces, a CDI spec file).
A new harness first sweeps the work directories whose owner is gone: it kills what still runs
in their namespaces, cgroups or under their directory, unmounts, and deletes. Only directories
carrying such a record are touched, so nothing of anyone else's is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.engine import cgroups, mounts
from tests.engine.daemons import kill_pids, pids_whose_cmdline_mentions
from tests.engine.netns import pids_in_netns

WORKDIR_PREFIX = "rs-engine-"
RECORD = "harness.json"


def record(workdir: Path, **made: object) -> None:
    """Add ``made`` to the work directory's record (first call: the owner)."""
    path = workdir / RECORD
    current = json.loads(path.read_text()) if path.exists() else _owner()
    current.update(made)
    partial = path.with_name(f".{RECORD}.partial")
    partial.write_text(json.dumps(current))
    partial.rename(path)


def sweep() -> list[Path]:
    """Remove every orphaned harness; the work directories removed."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*/{RECORD}"):
        try:
            made = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(made):
            continue
        remove_everything(path.parent, made)
        removed.append(path.parent)
    return removed


def remove_everything(workdir: Path, made: dict[str, object]) -> None:
    """Brute-force teardown from a record, for a harness whose own teardown never ran."""
    for netns in _strings(made.get("netns")):
        kill_pids(pids_in_netns(netns))
    kill_pids(pids_whose_cmdline_mentions(str(workdir)))
    if isinstance(made.get("cgroup_parent"), str):
        cgroups.kill_subtree(str(made["cgroup_parent"]))
    for netns in _strings(made.get("netns")):
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", netns], capture_output=True, check=False)
    spec = made.get("cdi_spec")
    if isinstance(spec, str):
        Path(spec).unlink(missing_ok=True)
    remove_workdir(workdir)


def remove_workdir(workdir: Path) -> None:
    """Unmount whatever is still mounted below ``workdir``, then delete it."""
    mounts.unmount_tree(workdir)
    shutil.rmtree(workdir, ignore_errors=True)


def _owner() -> dict[str, object]:
    return {"owner_pid": os.getpid(), "owner_start": _start_time(os.getpid())}


def _alive(made: dict[str, object]) -> bool:
    pid = made.get("owner_pid")
    if not isinstance(pid, int):
        return False
    started = _start_time(pid)
    return started is not None and started == made.get("owner_start")


def _start_time(pid: int) -> str | None:
    # Field 22 of /proc/PID/stat (after the parenthesised command name): start time in ticks.
    # With the PID it identifies a process even after PIDs wrap around.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
