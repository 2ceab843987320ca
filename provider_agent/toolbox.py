"""The instance toolbox: SSH for every image, including images that ship without ``sshd``.

Renters pick any image (a plain Debian, a PyTorch or a Jupyter image, an Alpine one), so SSH
cannot come from the image. The agent assembles, once at start, a directory that is mounted
read-only at ``/.rigshare/tools`` in every instance:

- ``busybox``: a static busybox (Debian ``busybox-static``); it runs the init script, so even
  an image without a shell starts;
- ``bin/dropbear`` and ``bin/sftp-server`` from the host's packages (``dropbear-bin``,
  ``openssh-sftp-server``) with every library they link against in ``lib/`` and the host's
  dynamic loader as ``lib/ld.so``. They run as ``lib/ld.so --library-path lib bin/...``, so they
  never touch the image's C library (glibc or musl, any version);
- ``init.sh``: PID 1 (``instance_init.sh``): SSH, optional Jupyter, the paid-until deadline;
- ``sftp-server``: a wrapper mounted where dropbear looks for the SFTP server, so ``sftp`` and
  ``scp`` (SFTP protocol) work.

The toolbox is rebuilt when its sources change (a content hash names it), never while an
instance uses the old one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from provider_agent.errors import AgentError

MOUNT_POINT = "/.rigshare/tools"
DROPBEAR_CANDIDATES = ("/usr/sbin/dropbear", "/usr/bin/dropbear")
SFTP_CANDIDATES = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/sftp-server",
)
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox-static")
_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_SFTP_PATH = re.compile(rb"(/[A-Za-z0-9_/.-]*sftp-server)\x00")
_PT_INTERP = 3


class ToolboxError(AgentError):
    """The host lacks what the toolbox needs (the message says which package)."""


@dataclass(frozen=True, slots=True)
class Toolbox:
    """A built toolbox: mount ``path`` at :data:`MOUNT_POINT`, ``sftp_wrapper`` at
    ``sftp_mount`` (where this dropbear looks for the SFTP server)."""

    path: Path
    sftp_mount: str

    @property
    def sftp_wrapper(self) -> Path:
        return self.path / "sftp-server"


def _first(candidates: tuple[str, ...], package: str) -> Path:
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ToolboxError(f"{candidates[0]} not found: install the Debian/Ubuntu package {package}")


def elf_interpreter(path: Path) -> str | None:
    """The dynamic loader an ELF executable asks for (PT_INTERP), None for a static one."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only (x86_64, aarch64)
        raise ToolboxError(f"{path} is not a 64-bit ELF executable")
    endian = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], endian)
    phentsize = int.from_bytes(data[0x36:0x38], endian)
    phnum = int.from_bytes(data[0x38:0x3A], endian)
    for i in range(phnum):
        header = phoff + i * phentsize
        if int.from_bytes(data[header : header + 4], endian) == _PT_INTERP:
            offset = int.from_bytes(data[header + 8 : header + 16], endian)
            size = int.from_bytes(data[header + 32 : header + 40], endian)
            return data[offset : offset + size].rstrip(b"\0").decode()
    return None


def shared_libraries(binary: Path) -> list[Path]:
    """Every shared library ``binary`` loads (``ldd``), the loader excluded."""
    try:
        out = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolboxError(f"ldd {binary} failed: {exc}") from exc
    libs = []
    for line in out.splitlines():
        match = _LDD_LINE.match(line)
        if match and "ld-linux" not in match[1] and "ld-musl" not in match[1]:
            libs.append(Path(match[1]))
    return libs


def sftp_path_of(dropbear: Path) -> str:
    """Where this dropbear build runs the SFTP server from (a compile-time path)."""
    match = _SFTP_PATH.search(dropbear.read_bytes())
    return match[1].decode() if match else "/usr/libexec/sftp-server"


def _sources() -> tuple[Path, Path, Path, str]:
    dropbear = _first(DROPBEAR_CANDIDATES, "dropbear-bin")
    sftp = _first(SFTP_CANDIDATES, "openssh-sftp-server")
    busybox = _first(BUSYBOX_CANDIDATES, "busybox-static")
    if elf_interpreter(busybox.resolve()) is not None:
        raise ToolboxError(f"{busybox} is not static: install the package busybox-static")
    init = resources.files("provider_agent").joinpath("instance_init.sh").read_text()
    return dropbear, sftp, busybox, init


def _digest(paths: list[Path], init: str) -> str:
    h = hashlib.sha256(init.encode())
    for path in paths:
        h.update(str(path).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_toolbox(root: Path) -> Toolbox:
    """Assemble (or reuse) the toolbox under ``root``; raises ToolboxError naming what is
    missing. Blocking: call it off the event loop."""
    dropbear, sftp, busybox, init = _sources()
    loader = elf_interpreter(dropbear)
    if loader is None:
        raise ToolboxError(f"{dropbear} has no dynamic loader; expected a dynamic build")
    libs = sorted({*shared_libraries(dropbear), *shared_libraries(sftp)})
    libs += sorted(Path(loader).parent.glob("libnss_files.so*"))  # glibc < 2.34 loads it
    target = root / f"toolbox-{_digest([dropbear, sftp, busybox, *libs], init)}"
    sftp_mount = sftp_path_of(dropbear)
    if (target / ".complete").exists():
        return Toolbox(target, sftp_mount)
    staging = root / f".{target.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    (staging / "lib").mkdir()
    shutil.copy2(busybox.resolve(), staging / "busybox")
    shutil.copy2(dropbear, staging / "bin" / "dropbear")
    shutil.copy2(sftp, staging / "bin" / "sftp-server")
    shutil.copy2(Path(loader).resolve(), staging / "lib" / "ld.so")
    for lib in libs:
        shutil.copy2(lib.resolve(), staging / "lib" / lib.name)
    (staging / "init.sh").write_text(init)
    (staging / "sftp-server").write_text(
        f"#!{MOUNT_POINT}/busybox sh\n"
        f'exec {MOUNT_POINT}/lib/ld.so --library-path {MOUNT_POINT}/lib {MOUNT_POINT}/bin/sftp-server "$@"\n'
    )
    for path in staging.rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.parent.name in ("bin", "lib") else 0o644)
    for executable in ("busybox", "sftp-server"):
        (staging / executable).chmod(0o755)
    staging.chmod(0o755)
    (staging / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return Toolbox(target, sftp_mount)
