"""Just enough of the engines' container API for the harness's own tests: pull an image, run a
command in a fresh container to completion, read its output. (The backend under test has its
own client; this one exists so that the harness can be checked without it.)

Both dockerd and podman's Docker-compatible API speak these endpoints; a libpod spec is
created through podman's own API and then driven through the compatible endpoints, which
accept any podman container.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from tests.engine.unixhttp import EngineApiError, UnixHttp

LIBPOD_CREATE = "/v4.0.0/libpod/containers/create"


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str  # stdout and stderr, interleaved as written


def pull(api: UnixHttp, reference: str) -> None:
    """Pull ``registry/repository:tag``; EngineApiError with the engine's reason on failure."""
    repository, tag = reference.rsplit(":", 1)
    api.stream_json(
        "POST", "/images/create", query={"fromImage": repository, "tag": tag}, timeout=300
    )


def run(
    api: UnixHttp,
    image: str,
    cmd: list[str],
    host_config: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> RunResult:
    """``docker run --rm image cmd`` through the Docker API, with ``HostConfig`` as given."""
    body = {"Image": image, "Cmd": cmd, "HostConfig": host_config or {}}
    return _run_created(api, api.call("POST", "/containers/create", json_body=body), timeout)


def run_libpod(api: UnixHttp, spec: dict[str, Any], timeout: float = 60.0) -> RunResult:
    """Create from a libpod ``SpecGenerator`` (podman only), then run it to completion."""
    return _run_created(api, api.call("POST", LIBPOD_CREATE, json_body=spec), timeout)


def _run_created(api: UnixHttp, created: dict[str, Any], timeout: float) -> RunResult:
    container = created["Id"]
    try:
        api.call("POST", f"/containers/{container}/start")
        waited = api.call("POST", f"/containers/{container}/wait", timeout=timeout)
        logs = api.request(
            "GET", f"/containers/{container}/logs", query={"stdout": "1", "stderr": "1"}
        )
        if logs.status != 200:
            raise EngineApiError(f"logs of {container}: {logs.status} {logs.body!r}")
        return RunResult(int(waited["StatusCode"]), demultiplex(logs.body))
    finally:
        api.request("DELETE", f"/containers/{container}", query={"force": "1"})


def demultiplex(raw: bytes) -> str:
    """The text of a non-TTY log stream: frames of an 8-byte header (stream, 0, 0, 0,
    big-endian length) and a payload."""
    chunks, offset = [], 0
    while offset + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[offset + 4 : offset + 8])
        chunks.append(raw[offset + 8 : offset + 8 + length])
        offset += 8 + length
    return b"".join(chunks).decode("utf-8", errors="replace")
