"""HTTP/1.1 over a unix socket: the one client the harness uses for dockerd and podman.

The standard library's ``http.client`` with the socket swapped, so no extra dependency and no
blocking work at import time. Each call opens a fresh connection (the engines close idle
keep-alive connections at will, and the harness is not performance-critical).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

# Repeated parameters (Docker's ``changes``) are given as a list.
Query = dict[str, str | list[str]]


class EngineApiError(RuntimeError):
    """An engine answered with an error status (or an error line inside a streamed answer)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = str(socket_path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


@dataclass(frozen=True)
class UnixHttp:
    """Requests to one API socket; ``path`` includes any version prefix the caller wants."""

    socket_path: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: bytes | IO[bytes] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Response:
        """One request, the whole answer read; raises OSError when the socket refuses."""
        conn, response = self._open(method, path, query, body, json_body, headers, timeout)
        try:
            return Response(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like ``request`` but returns the decoded JSON; raises EngineApiError on status >= 400."""
        response = self.request(method, path, **kwargs)
        if response.status >= 400:
            raise EngineApiError(f"{method} {path}: {response.status} {response.body[:2000]!r}")
        return response.json() if response.body.strip() else None

    def stream_json(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """A streamed progress answer (pull, push, import) as its JSON messages.

        Raises EngineApiError on an error status or on a message carrying ``error``, which is
        how the Docker API reports a failure after it has already answered 200.
        """
        conn, response = self._open(method, path, **kwargs)
        try:
            if response.status >= 400:
                raise EngineApiError(f"{method} {path}: {response.status} {response.read()!r}")
            messages = list(_json_messages(response))
        finally:
            conn.close()
        for message in messages:
            if message.get("error") or message.get("errorDetail"):
                raise EngineApiError(f"{method} {path}: {message}")
        return messages

    def ping(self) -> bool:
        try:
            return self.request("GET", "/_ping", timeout=2.0).status == 200
        except OSError:
            return False

    def wait_for_ping(self, within: float, alive: Callable[[], bool] | None = None) -> None:
        """Poll ``/_ping`` until it answers; ``alive()`` false (the daemon died) stops early."""
        deadline = time.monotonic() + within
        while not self.ping():
            if alive is not None and not alive():
                raise EngineApiError(f"the daemon behind {self.socket_path} exited")
            if time.monotonic() > deadline:
                raise EngineApiError(f"{self.socket_path} did not answer /_ping in {within} s")
            time.sleep(0.05)

    def _open(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: bytes | IO[bytes] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        url = f"{path}?{urlencode(query, doseq=True)}" if query else path
        conn = _UnixConnection(self.socket_path, timeout)
        try:
            conn.request(method, url, body=body, headers=all_headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise


def _json_messages(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    # Decoded greedily rather than line by line, so that a message split across reads and
    # several messages in one read both come out whole, whatever the engine's line breaks.
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in iter(lambda: response.read1(65536), b""):
        buffer += chunk.decode("utf-8", errors="replace")
        while True:
            stripped = buffer.lstrip()
            if not stripped:
                buffer = ""
                break
            try:
                message, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                buffer = stripped
                break
            buffer = stripped[end:]
            if isinstance(message, dict):
                yield message
