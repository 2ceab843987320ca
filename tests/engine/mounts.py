"""File systems the harness mounts: dockerd's data root on a loop file, and the sweep that
unmounts whatever an engine left mounted under a harness's directory.

Disk limits (``--storage-opt size=``) need a storage driver with quotas: overlay2 on XFS
mounted with ``pquota`` (the usual production set-up), or the btrfs driver (qgroups). Kernels
without XFS quota support (CONFIG_XFS_QUOTA, common in small VM kernels) still have btrfs
qgroups, so the data root is the first of these that mounts; a plain directory with overlay2
and no disk limits is the last resort. Loop files are sparse, cost only what is written, and
``mount -o loop`` sets autoclear so unmounting frees the loop device.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LOOP_FILE_SIZE = "16G"


@dataclass(frozen=True)
class DataRoot:
    path: Path
    filesystem: str  # "xfs-pquota", "btrfs" or "plain"
    storage_driver: str  # what dockerd must use on it: "overlay2" or "btrfs"
    notes: str  # why the better choices were not taken


_CHOICES = (
    # (filesystem, storage driver, mkfs argv, mount options)
    ("xfs-pquota", "overlay2", ["mkfs.xfs", "-q"], "loop,pquota"),
    ("btrfs", "btrfs", ["mkfs.btrfs", "-q"], "loop"),
)


def mount_data_root(workdir: Path) -> DataRoot:
    """A data root at ``workdir/data``: the first loop file system of _CHOICES that mounts,
    else a plain directory."""
    path = workdir / "data"
    path.mkdir(parents=True, exist_ok=True)
    notes = []
    for filesystem, driver, mkfs, options in _CHOICES:
        image = workdir / f"data.{filesystem}.img"
        failure = _make_and_mount(image, path, mkfs, options)
        if failure is None:
            return DataRoot(path, filesystem, driver, "; ".join(notes))
        notes.append(f"{filesystem}: {failure}")
        image.unlink(missing_ok=True)
    return DataRoot(path, "plain", "overlay2", "; ".join(notes))


def unmount_tree(root: Path) -> list[str]:
    """Unmount everything mounted at or below ``root``, deepest first (lazily where busy);
    the mount points that were still there. An engine stopped with SIGKILL leaves its
    overlay and bind mounts behind, and a loop mount keeps its loop device until unmounted."""
    prefix = str(root.resolve())
    mounted = [m for m in _mount_points() if m == prefix or m.startswith(prefix + "/")]
    for mountpoint in sorted(mounted, key=len, reverse=True):
        if subprocess.run(["umount", mountpoint], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)
    return mounted


def _make_and_mount(image: Path, mountpoint: Path, mkfs: list[str], options: str) -> str | None:
    if shutil.which(mkfs[0]) is None:
        return f"{mkfs[0]} is not installed"
    steps = [
        ["truncate", "-s", LOOP_FILE_SIZE, str(image)],
        [*mkfs, str(image)],
        ["mount", "-o", options, str(image), str(mountpoint)],
    ]
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return f"{' '.join(argv)}: {_dmesg_hint(result.stderr.strip())}"
    return None


def _dmesg_hint(error: str) -> str:
    # mount(8) only says "wrong fs type, bad option"; the kernel log says which.
    if "wrong fs type" not in error:
        return error
    result = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
    last = result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else []
    return f"{error.splitlines()[0]} (kernel: {last[0].split('] ', 1)[-1]})" if last else error


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like octal-escaped.
        points.append(line.split()[4].encode().decode("unicode_escape"))
    return points
