"""File systems the harness mounts: an XFS with project quotas for dockerd's data root, and the
sweep that unmounts whatever an engine left mounted under a harness's directory.

overlay2 enforces ``--storage-opt size=`` only on XFS mounted with ``pquota``; on ext4 dockerd
refuses the option. The backing file is sparse, so it costs only what the images and containers
write, and ``mount -o loop`` sets autoclear so unmounting also frees the loop device.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SIZE = "16G"


def mount_xfs_pquota(image: Path, mountpoint: Path) -> tuple[bool, str]:
    """Make and mount the file system: (True, "") or (False, why not: no mkfs.xfs, no loop
    device, a kernel without XFS); the caller then falls back to a plain directory."""
    if shutil.which("mkfs.xfs") is None:
        return False, "mkfs.xfs is not installed (Debian package xfsprogs)"
    mountpoint.mkdir(parents=True, exist_ok=True)
    steps = [
        ["truncate", "-s", SIZE, str(image)],
        ["mkfs.xfs", "-q", str(image)],
        ["mount", "-t", "xfs", "-o", "loop,pquota", str(image), str(mountpoint)],
    ]
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            image.unlink(missing_ok=True)
            return False, f"{' '.join(argv)}: {result.stderr.strip()}"
    return True, ""


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


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like octal-escaped.
        points.append(line.split()[4].encode().decode("unicode_escape"))
    return points
