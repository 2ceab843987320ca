"""A stand-in ``nvidia-smi`` for the test images, added to the Debian ones as a layer of its own.

On a real host the NVIDIA runtime (or CDI) puts ``nvidia-smi`` into a container and the
driver tells it which GPUs the container may use. Here the GPUs are fake device nodes
(``tests/engine/gpus.py``) with no driver, so the stand-in plays the driver's part the only
way a container can: it looks at the ``/dev/nvidia<N>`` character devices it sees (NVIDIA's
major 195), skips those the device cgroup denies (opening one fails with EPERM, a granted
fake one with ENXIO), and names each by the UUID the fake GPU of that minor carries
(``provider_agent.simulated_probe.simulated_uuid``, which the harness gives its nodes).
It answers what the service and the agents ask: ``--query-gpu=<fields>`` (uuid, name, index)
with ``--format=csv[,noheader]``, and ``-L``; without GPUs "No devices were found", exit 6,
as the real one does. The Debian images have python3; the busybox image gets no stand-in
(like an image without the NVIDIA runtime: no nvidia-smi).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

PATH_IN_IMAGE = "usr/bin/nvidia-smi"

SCRIPT = r'''#!/usr/bin/python3
"""nvidia-smi stand-in of the rigshare test images (tests/engine/gpu_tools.py)."""
import errno
import os
import random
import re
import stat
import sys
import uuid

NVIDIA_MAJOR = 195
NAME = "NVIDIA Fake GPU (rigshare test engine)"
DEV = os.environ.get("RIGSHARE_FAKE_DEV", "/dev")


def uuid_of(minor):
    # provider_agent.simulated_probe.simulated_uuid(minor), seed 0
    return "GPU-" + str(uuid.UUID(int=random.Random(f"0:{minor}:uuid").getrandbits(128)))


def visible():
    minors = set()
    for name in os.listdir(DEV):
        if not re.fullmatch(r"nvidia[0-9]+", name):
            continue
        path = os.path.join(DEV, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != NVIDIA_MAJOR:
            continue
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES):
                continue  # the device cgroup denies it: not this container's GPU
        minors.add(os.minor(st.st_rdev))
    return sorted(minors)


def main(args):
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    form = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), "")
    if query is None and "-L" not in args:
        print("nvidia-smi stand-in: use --query-gpu=... --format=csv or -L", file=sys.stderr)
        return 2
    values = {"uuid": uuid_of, "name": lambda m: NAME, "index": None, "minor_number": str}
    fields = [f.strip() for f in (query or "uuid").split(",")]
    unknown = [f for f in fields if f not in values]
    if query is not None and (unknown or not form.startswith("csv")):
        print(f'Field "{(unknown or [form])[0]}" is not a valid field to query.', file=sys.stderr)
        return 2
    gpus = visible()
    if not gpus:
        print("No devices were found")
        return 6
    if query is None:
        for i, minor in enumerate(gpus):
            print(f"GPU {i}: {NAME} (UUID: {uuid_of(minor)})")
        return 0
    if "noheader" not in form:
        print(", ".join(fields))
    for i, minor in enumerate(gpus):
        row = [str(i) if f == "index" else values[f](minor) for f in fields]
        print(", ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


@dataclass(frozen=True)
class ToolsLayer:
    blob: bytes  # gzip-compressed tarball
    digest: str
    diff_id: str


def tools_layer() -> ToolsLayer:
    """The layer with the stand-in, byte for byte the same on every run (fixed metadata)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = SCRIPT.encode()
        info = tarfile.TarInfo(PATH_IN_IMAGE)
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    return ToolsLayer(
        blob,
        f"sha256:{hashlib.sha256(blob).hexdigest()}",
        f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}",
    )
