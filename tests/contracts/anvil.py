"""anvil (the pinned npm binary) as a real JSON-RPC node on a free loopback port, for tests.

The session fixture ``anvil_url`` (conftest.py) starts one node for all tests that need it; a
missing binary skips them with the command that installs it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ANVIL = CONTRACTS / "toolchain/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"


def anvil_binary() -> Path:
    if not ANVIL.exists() and shutil.which("npm"):
        subprocess.run(  # noqa: S603 - fixed command
            ["bash", str(CONTRACTS / "toolchain.sh")],  # noqa: S607
            check=False,
            capture_output=True,
            timeout=300,
        )
    if not ANVIL.exists():
        pytest.skip(
            "anvil is not installed (linux x64 npm package): run bash contracts/toolchain.sh"
        )
    return ANVIL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 - loopback
            return "result" in json.load(response)
    except OSError:
        return False


@contextmanager
def running_anvil() -> Iterator[str]:
    """Start anvil on 127.0.0.1 (Prague rules, automine); yield its URL; stop it."""
    binary = anvil_binary()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 - our pinned binary, loopback only
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--hardfork", "prague"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not rpc_ready(url):
            if proc.poll() is not None:
                raise RuntimeError(f"anvil exited: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("anvil did not answer within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
