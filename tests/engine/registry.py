"""Debian's docker-registry (distribution 2.8) inside the provider namespace, on 127.0.0.1:5000.

Listening on the namespace's loopback means the engines in that namespace pull from it over
plain HTTP without any "insecure registry" setting (dockerd trusts 127.0.0.0/8), and nothing
outside the namespace can reach it. No authentication: the backend's pull path is the subject,
not registry auth. Storage is a directory of the harness (or a copy-on-write view of a cached
one, see ``images``).
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.engine.daemons import Daemon, HarnessError, start_daemon, wait_until
from tests.engine.netns import in_netns, socket_in_netns
from tests.engine.unixhttp import Response

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
    netns: str
    address: str  # host:port as it appears in image references, inside the namespace
    storage: Path
    log_path: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> Response:
        """One request to the registry API from this process (the registry is reachable only
        inside the namespace); raises OSError when nothing listens."""
        host, port = self.address.rsplit(":", 1)
        conn = _NetnsConnection(self.netns, host, int(port), timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Response(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def answers(self) -> bool:
        try:
            return self.request("GET", "/v2/", timeout=2.0).status == 200
        except OSError:
            return False


class _NetnsConnection(http.client.HTTPConnection):
    def __init__(self, netns: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._netns = netns

    def connect(self) -> None:
        sock = socket_in_netns(self._netns)
        sock.settimeout(self.timeout)
        sock.connect((self.host, self.port))
        self.sock = sock


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
    registry = Registry(netns, ADDRESS, storage, daemon.log_path)
    try:
        wait_until(lambda: _ready(registry, daemon), START_TIMEOUT_S, "registry /v2/")
    except HarnessError as exc:
        daemon.stop()
        raise daemon.fail(str(exc)) from None
    try:
        yield registry
    finally:
        daemon.stop()


def _ready(registry: Registry, daemon: Daemon) -> bool:
    if not daemon.alive():
        raise HarnessError("docker-registry exited")
    return registry.answers()
