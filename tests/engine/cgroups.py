"""The cgroup subtree a harness's dockerd puts its containers in, and its removal.

Each harness gives dockerd a cgroup parent of its own (``--cgroup-parent``), so two harnesses
never share a subtree and teardown can kill exactly what one of them left running (a container
whose shim died with a SIGKILLed dockerd keeps running otherwise) and remove the directories.
Works on cgroup v1 (one tree per hierarchy) and v2 (one tree).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.engine.daemons import kill_pids

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_version() -> int:
    """2 on a unified-only host, else 1 (a hybrid host's engines use the v1 hierarchies)."""
    return 2 if (CGROUP_ROOT / "cgroup.controllers").exists() else 1


def subtree_dirs(parent: str) -> list[Path]:
    """Every existing directory of cgroup ``parent`` (e.g. "/rigshare-test-ab12cd")."""
    relative = parent.strip("/")
    candidates = [CGROUP_ROOT / relative]
    if cgroup_version() == 1:
        candidates = [hierarchy / relative for hierarchy in _v1_hierarchies()]
    return [path for path in candidates if path.is_dir()]


def kill_subtree(parent: str) -> list[int]:
    """SIGKILL every process in the subtree, then remove its directories; the PIDs killed."""
    killed: list[int] = []
    roots = subtree_dirs(parent)
    for root in roots:
        killed += kill_pids(_pids_below(root))
    deadline = time.monotonic() + 5.0
    for root in roots:
        for directory in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            _rmdir_when_empty(directory, deadline)
        _rmdir_when_empty(root, deadline)
    return killed


def _v1_hierarchies() -> list[Path]:
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def _pids_below(root: Path) -> set[int]:
    pids: set[int] = set()
    for procs in root.rglob("cgroup.procs"):
        try:
            pids.update(int(line) for line in procs.read_text().split())
        except OSError:
            continue
    return pids


def _rmdir_when_empty(directory: Path, deadline: float) -> None:
    # Only cgroup directories are removable this way; their files vanish with them. A killed
    # process leaves its cgroup a moment after the signal, hence the short retry.
    if not directory.is_dir() or directory.is_symlink():
        return
    while True:
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
