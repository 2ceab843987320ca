"""Debian's docker-registry (distribution 2.8) inside the provider namespace, on 127.0.0.1:5000.

Listening on the namespace's loopback means the engines in that namespace pull from it over
plain HTTP without any "insecure registry" setting (dockerd trusts 127.0.0.0/8), and nothing
outside the namespace can reach it. No authentication: the backend's pull path is the subject,
not registry auth. Storage is a directory of the harness (or a copy-on-write view of a cached
one, see ``images``).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.engine.daemons import HarnessError, start_daemon, wait_until
from tests.engine.netns import in_netns, run_in_netns

ADDRESS = "127.0.0.1:5000"
START_TIMEOUT_S = 15.0

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {address}
  headers:
    X-Content-Type-Options: [nosniff]
"""


@dataclass(frozen=True)
class Registry:
    address: str  # host:port as it appears in image references, inside the namespace
    storage: Path
    log_path: Path


@contextlib.contextmanager
def running_registry(netns: str, workdir: Path, storage: Path) -> Iterator[Registry]:
    """The registry serving ``storage`` until the block ends; HarnessError when it does not
    answer ``/v2/`` in time."""
    if shutil.which("docker-registry") is None:
        raise HarnessError("docker-registry is not installed (Debian package docker-registry)")
    workdir.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    config.write_text(_CONFIG.format(storage=storage, address=ADDRESS))
    argv = in_netns(netns, ["docker-registry", "serve", str(config)])
    daemon = start_daemon("docker-registry", argv, workdir / "registry.log")
    try:
        wait_until(lambda: _answers(netns, daemon.alive), START_TIMEOUT_S, "registry /v2/")
    except HarnessError as exc:
        daemon.stop()
        raise daemon.fail(str(exc)) from None
    try:
        yield Registry(ADDRESS, storage, daemon.log_path)
    finally:
        daemon.stop()


def _answers(netns: str, alive: object) -> bool:
    if callable(alive) and not alive():
        raise HarnessError("docker-registry exited")
    probe = (
        "import socket,sys\n"
        "try:\n"
        f"    c=socket.create_connection(('127.0.0.1',{ADDRESS.rsplit(':', 1)[1]}),timeout=1)\n"
        "    c.sendall(b'GET /v2/ HTTP/1.0\\r\\n\\r\\n')\n"
        "    sys.exit(0 if c.recv(64).startswith(b'HTTP/1.0 200') else 1)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return run_in_netns(netns, ["python3", "-c", probe], timeout=5).returncode == 0
