"""Image layers for the recipes, built offline and cached across runs.

Debian images come from mmdebstrap (it uses the host's apt sources, so nothing machine-specific
is written here); the tiny image is the host's static busybox with its applet links. Each root
file system tarball is stored as the gzip blob a registry serves (compressed once, at level 1:
the engines spend their pull time unpacking, not inflating) beside a JSON file with its digests,
``/var/cache/rigshare-test-images/<name>-<recipe hash>.tar.gz`` and ``.json``. A rerun, another
checkout or CI on the same machine builds nothing. A lock per recipe lets concurrent harnesses
share one build, and a cache entry appears only complete (written aside, then renamed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import struct
import subprocess
import tarfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.engine.daemons import HarnessError
from tests.engine.recipes import SUITE, ImageRecipe

CACHE_DIR = Path("/var/cache/rigshare-test-images")
BUSYBOX = Path("/bin/busybox")
BUILD_TIMEOUT_S = 600
_PT_INTERP = 3

# Documentation and translations are most of a minimal image's size and no test reads them.
_DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
)


@dataclass(frozen=True)
class LayerBlob:
    path: Path  # gzip-compressed root file system tarball
    digest: str  # "sha256:..." of the compressed bytes: the registry's blob name
    diff_id: str  # "sha256:..." of the uncompressed tarball: the image config's rootfs entry
    size: int
    created: str  # RFC 3339, when it was built


def ensure_layers(recipes: tuple[ImageRecipe, ...]) -> dict[str, LayerBlob]:
    """Each recipe's cached layer by recipe name, building the missing ones in parallel."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(recipes)) as pool:
        layers = list(pool.map(ensure_layer, recipes))
    return {recipe.name: layer for recipe, layer in zip(recipes, layers, strict=True)}


def ensure_layer(recipe: ImageRecipe) -> LayerBlob:
    """The cached layer of ``recipe``; HarnessError with the builder's output on failure."""
    key = recipe.cache_key(_builder_input(recipe))
    blob, meta = CACHE_DIR / f"{key}.tar.gz", CACHE_DIR / f"{key}.json"
    if not meta.exists():
        with _lock(CACHE_DIR / f".{key}.lock"):
            if not meta.exists():  # else another harness built it while we waited
                _build(recipe, blob, meta)
    return LayerBlob(path=blob, **json.loads(meta.read_text()))


def _build(recipe: ImageRecipe, blob: Path, meta: Path) -> None:
    partial = f".{meta.stem}.{secrets.token_hex(4)}"
    rootfs, gz, partial_meta = (CACHE_DIR / f"{partial}{ext}" for ext in (".tar", ".gz", ".json"))
    try:
        if recipe.builder == "mmdebstrap":
            _mmdebstrap(recipe, rootfs)
        elif recipe.builder == "busybox":
            _busybox_rootfs(rootfs)
        else:
            raise HarnessError(f"{recipe.name}: unknown builder {recipe.builder!r}")
        digests = _compress(rootfs, gz)
        gz.rename(blob)
        # The metadata file is the commit point: written last, and atomically.
        partial_meta.write_text(json.dumps(digests))
        partial_meta.rename(meta)
    finally:
        for leftover in CACHE_DIR.glob(f"{partial}.*"):
            leftover.unlink(missing_ok=True)


def _compress(rootfs: Path, output: Path) -> dict[str, object]:
    # zlib releases the GIL, so the recipes compress in parallel threads.
    uncompressed, compressed = hashlib.sha256(), hashlib.sha256()
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    size = 0
    with rootfs.open("rb") as source, output.open("wb") as sink:

        def write(data: bytes) -> None:
            nonlocal size
            compressed.update(data)
            sink.write(data)
            size += len(data)

        for chunk in iter(lambda: source.read(1 << 20), b""):
            uncompressed.update(chunk)
            write(deflate.compress(chunk))
        write(deflate.flush())
    return {
        "digest": f"sha256:{compressed.hexdigest()}",
        "diff_id": f"sha256:{uncompressed.hexdigest()}",
        "size": size,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _builder_input(recipe: ImageRecipe) -> str:
    if recipe.builder != "busybox":
        return ""
    if not BUSYBOX.exists():
        raise HarnessError(f"{BUSYBOX} is missing (Debian package busybox-static)")
    binary = BUSYBOX.read_bytes()
    if _has_interpreter(binary):
        raise HarnessError(f"{BUSYBOX} is linked dynamically: install busybox-static")
    return hashlib.sha256(binary).hexdigest()


def _has_interpreter(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF names a dynamic loader (a PT_INTERP header)."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    headers = (phoff + i * phentsize for i in range(phnum))
    return any(struct.unpack_from("<I", elf, offset)[0] == _PT_INTERP for offset in headers)


def _mmdebstrap(recipe: ImageRecipe, output: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise HarnessError("mmdebstrap is not installed (Debian package mmdebstrap)")
    argv = [
        "mmdebstrap",
        "--quiet",
        "--variant=apt",
        '--aptopt=APT::Install-Recommends "false"',
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in _DPKG_EXCLUDES),
        f"--include={','.join(recipe.packages)}",
        SUITE,
        str(output),
    ]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(
            f"image {recipe.name}: mmdebstrap ran over {BUILD_TIMEOUT_S} s"
        ) from None
    if result.returncode != 0:
        output_tail = (result.stdout + result.stderr)[-4000:]
        raise HarnessError(f"image {recipe.name}: mmdebstrap failed:\n{output_tail}")


def _busybox_rootfs(output: Path) -> None:
    """A root file system of /bin/busybox, its applet links, and just enough of /etc for a root
    login shell. The shadow entry is "*" (no password) rather than "!": sshd and dropbear
    refuse every method, keys included, for a "!"-locked account."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp"):
            _add(tar, directory, tarfile.DIRTYPE, mode=0o1777 if directory == "tmp" else 0o755)
        _add(tar, "root", tarfile.DIRTYPE, mode=0o700)
        tar.add(str(BUSYBOX), arcname="bin/busybox", filter=_owned_by_root)
        for applet in applets:
            if applet != "bin/busybox":
                _add(tar, applet, tarfile.SYMTYPE, linkname="/bin/busybox")
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "etc/shadow": "root:*:19000:0:99999:7:::\n",
            "etc/group": "root:x:0:\n",
            "etc/shells": "/bin/sh\n/bin/ash\n",
        }
        for name, text in files.items():
            _add(
                tar,
                name,
                tarfile.REGTYPE,
                data=text.encode(),
                mode=0o640 if "shadow" in name else 0o644,
            )


def _add(
    tar: tarfile.TarFile,
    name: str,
    kind: bytes,
    *,
    mode: int = 0o755,
    linkname: str = "",
    data: bytes = b"",
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.size = kind, mode, linkname, len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
