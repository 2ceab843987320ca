"""A tiny TCP server inside any namespace: echoes bytes back, or answers an HTTP GET with "ok".

It runs as a subprocess of the host's Python under ``nsenter``, so it needs nothing inside the
namespace. Each accepted connection's peer address is logged, which lets a test show where a
connection came from (for example that a container's egress is masqueraded).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.engine.daemons import Daemon, start_daemon, wait_until
from tests.engine.netns import in_netns

_SERVER = r"""
import socket, sys, threading
address, port = sys.argv[1], int(sys.argv[2])
HTTP_REPLY = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
family = socket.AF_INET6 if ":" in address else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen(64)
print("listening", server.getsockname()[1], flush=True)

def serve(conn, peer):
    print("peer", peer[0], flush=True)
    with conn:
        first = True
        while data := conn.recv(65536):
            if first and data[:4] in (b"GET ", b"HEAD"):
                conn.sendall(HTTP_REPLY)
                return
            first = False
            conn.sendall(data)

while True:
    conn, peer = server.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""


@dataclass(frozen=True)
class TcpServer:
    netns: str | None
    address: str
    port: int
    log_path: Path

    def peers(self) -> list[str]:
        """Addresses of the clients that connected so far, in order."""
        lines = self.log_path.read_text().splitlines()
        return [line.split()[1] for line in lines if line.startswith("peer ")]


@contextlib.contextmanager
def serve_tcp(netns: str | None, address: str, port: int, log_dir: Path) -> Iterator[TcpServer]:
    """Listen on ``address:port`` in ``netns`` (None: the host's namespace; port 0: any free
    port, reported in ``TcpServer.port``) until the block ends; returns once listening."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f"tcp-{netns or 'host'}-{address}-", suffix=".log", dir=log_dir
    )
    os.close(fd)
    log_path = Path(name)
    argv = in_netns(netns, [sys.executable, "-c", _SERVER, address, str(port)])
    daemon = start_daemon(f"tcp server {address}:{port}", argv, log_path)
    try:
        actual_port = int(wait_until(lambda: _listening_port(daemon), 10.0, daemon.name))
        yield TcpServer(netns, address, actual_port, log_path)
    finally:
        daemon.stop(grace_s=2.0)


def _listening_port(daemon: Daemon) -> int | None:
    if not daemon.alive():
        raise daemon.fail("exited before listening")
    for line in daemon.log_path.read_text().splitlines():
        if line.startswith("listening "):
            return int(line.split()[1])
    return None
