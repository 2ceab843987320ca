"""The self-test's GPU check: the instance must see exactly the rented GPUs, no more, no less.

Over SSH, as the renter will log in, the agent runs ``nvidia-smi`` (the NVIDIA runtime and CDI
put it into the container) and lists ``/dev``. With ``nvidia-smi`` the GPU UUIDs must be
exactly the rented ones; without it (the plain device-node binding) the ``/dev/nvidia<N>``
nodes must be exactly the rented GPUs' minors.
"""

from __future__ import annotations

import re

from provider_agent.access import GpuCheck

MARK = "--rigshare-dev--"
COMMAND = f"nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null; echo {MARK}; ls -1 /dev"
_NODE = re.compile(r"^nvidia(\d+)$")


def gpu_view_error(output: str, uuids: list[str], minors: list[int]) -> str | None:
    """None when the output shows exactly the rented GPUs, else what is wrong."""
    smi, _, devices = output.partition(MARK)
    seen_uuids = {line.strip() for line in smi.splitlines() if line.strip().startswith("GPU-")}
    if seen_uuids:
        if seen_uuids != set(uuids):
            return f"the instance sees GPUs {sorted(seen_uuids)}, rented {sorted(uuids)}"
        return None
    nodes = {int(m[1]) for line in devices.splitlines() if (m := _NODE.match(line.strip()))}
    if nodes != set(minors):
        shown = sorted(f"/dev/nvidia{n}" for n in nodes)
        wanted = sorted(f"/dev/nvidia{n}" for n in minors)
        return f"the instance has {shown or 'no GPU nodes'}, rented {wanted}"
    return None


def gpu_view_check(uuids: list[str], minors: list[int]) -> GpuCheck:
    return GpuCheck(COMMAND, lambda output: gpu_view_error(output, uuids, minors))
