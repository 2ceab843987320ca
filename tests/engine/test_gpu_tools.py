"""The test images' stand-in nvidia-smi names the fake GPU nodes it sees by the UUIDs the
harness and ``rigshare-agent --simulate`` give them, in the real CLI's formats (no engine:
the script runs here against device nodes in a temporary directory)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from provider_agent.simulated_probe import simulated_uuid
from tests.engine.gpu_tools import SCRIPT, tools_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def _smi(dev, *args):
    env = {**os.environ, "RIGSHARE_FAKE_DEV": str(dev)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env
    )


def test_it_lists_the_uuids_of_the_gpu_nodes_it_sees(tmp_path):
    for name, major, minor in (("nvidia0", 195, 0), ("nvidia2", 195, 2), ("nvidiactl", 195, 255)):
        os.mknod(tmp_path / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    (tmp_path / "nvidia7").write_text("not a device")
    out = _smi(tmp_path, "--query-gpu=uuid", "--format=csv,noheader")
    assert out.returncode == 0
    assert out.stdout.splitlines() == [simulated_uuid(0), simulated_uuid(2)]
    out = _smi(tmp_path, "--query-gpu=index,uuid", "--format=csv")
    assert out.stdout.splitlines() == [
        "index, uuid",
        f"0, {simulated_uuid(0)}",
        f"1, {simulated_uuid(2)}",
    ]
    assert f"(UUID: {simulated_uuid(2)})" in _smi(tmp_path, "-L").stdout


def test_without_gpus_it_says_so_like_the_real_one(tmp_path):
    out = _smi(tmp_path, "--query-gpu=uuid", "--format=csv,noheader")
    assert (out.returncode, out.stdout.strip()) == (6, "No devices were found")
    assert _smi(tmp_path, "--query-gpu=serial", "--format=csv").returncode == 2


def test_the_layer_is_the_same_bytes_every_time():
    assert tools_layer() == tools_layer()
