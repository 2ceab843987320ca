"""A small asyncio client for the Docker Engine API (and podman's Docker-compatible API).

Why our own client on aiohttp instead of aiodocker or the Docker SDK: the SDK is synchronous
(it would need a thread per call), aiodocker is a thin layer over the same aiohttp calls, and
the agent needs only a dozen endpoints. Owning them keeps the request bodies visible in one
place (tests compare them with the Engine API reference) and lets podman's compat API, which
differs in small ways, be handled where the difference is.

Every failure raises :class:`EngineError` (``EngineNotFound`` for 404, ``EngineConflict`` for
409) with the engine's own message, which the agent passes on to the service.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from provider_agent.errors import AgentError

API_VERSION = "v1.41"  # Docker 20.10+ and podman 4+ both speak it
LIBPOD_PREFIX = "/v4.0.0/libpod"  # podman's own API, beside the compatible one on its socket
PULL_TIMEOUT_S = 30 * 60
CALL_TIMEOUT_S = 120


class EngineError(AgentError):
    """The container engine refused a call or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EngineNotFound(EngineError):
    pass


class EngineConflict(EngineError):
    pass


def _raise_for(status: int, body: bytes, what: str) -> None:
    try:
        message = str(json.loads(body).get("message", "")) or body.decode(errors="replace")
    except (ValueError, AttributeError):
        message = body.decode(errors="replace")
    message = f"{what}: {message.strip()[:400]}"
    if status == 404:
        raise EngineNotFound(message, status)
    if status == 409:
        raise EngineConflict(message, status)
    raise EngineError(message, status)


def label_filter(labels: Mapping[str, str | None]) -> str:
    """The ``filters`` query value selecting objects by label (``key`` or ``key=value``)."""
    wanted = [k if v is None else f"{k}={v}" for k, v in labels.items()]
    return json.dumps({"label": wanted})


def demux_logs(raw: bytes) -> str:
    """Docker's multiplexed stdout/stderr stream (8-byte frame headers) as text."""
    out, pos = [], 0
    while pos + 8 <= len(raw) and raw[pos] in (0, 1, 2) and raw[pos + 1 : pos + 4] == b"\0\0\0":
        (size,) = struct.unpack(">I", raw[pos + 4 : pos + 8])
        out.append(raw[pos + 8 : pos + 8 + size])
        pos += 8 + size
    if pos == 0:  # a TTY container: no framing
        return raw.decode(errors="replace")
    return b"".join(out).decode(errors="replace")


class EngineClient:
    """Calls over the engine's unix socket. Create and close it inside one event loop."""

    def __init__(self, socket_path: str, *, api_version: str = API_VERSION) -> None:
        self.socket_path = socket_path
        self._prefix = f"/{api_version}" if api_version else ""
        self._session: aiohttp.ClientSession | None = None
        self._podman: bool | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket_path),
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        expect_json: bool = True,
        prefix: str | None = None,
    ) -> Any:
        url = f"http://engine{self._prefix if prefix is None else prefix}{path}"
        try:
            async with self._http().request(method, url, params=params, json=body) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    _raise_for(resp.status, raw, what)
        except aiohttp.ClientError as exc:
            raise EngineError(f"{what}: the container engine is unreachable ({exc})") from exc
        except TimeoutError as exc:
            raise EngineError(f"{what}: the container engine did not answer in time") from exc
        if not expect_json or not raw:
            return raw
        return json.loads(raw)

    # -- engine ----------------------------------------------------------------------------
    async def ping(self) -> None:
        await self._call("GET", "/_ping", "ping", expect_json=False)

    async def info(self) -> dict[str, Any]:
        return await self._call("GET", "/info", "engine info")

    async def version(self) -> dict[str, Any]:
        return await self._call("GET", "/version", "engine version")

    async def is_podman(self) -> bool:
        """Whether the engine on the socket is podman (its ``/version`` names a component
        "Podman Engine"); asked once per client."""
        if self._podman is None:
            components = (await self.version()).get("Components") or []
            self._podman = any("Podman Engine" in str(c.get("Name")) for c in components)
        return self._podman

    # -- images ----------------------------------------------------------------------------
    async def image_inspect(self, reference: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", f"/images/{quote(reference, safe='')}/json", "image")
        except EngineNotFound:
            return None

    async def pull(self, repository: str, tag: str) -> None:
        """Pull ``repository:tag`` (``tag`` may be ``@sha256:...`` style digest without '@')."""
        what = f"pulling {repository}:{tag}"
        url = f"http://engine{self._prefix}/images/create"
        params = {"fromImage": repository, "tag": tag}
        try:
            async with self._http().post(
                url, params=params, timeout=aiohttp.ClientTimeout(total=PULL_TIMEOUT_S)
            ) as resp:
                if resp.status >= 400:
                    _raise_for(resp.status, await resp.read(), what)
                # progress is a stream of JSON objects; a failure arrives as {"error": ...}
                async for line in resp.content:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("error"):
                        raise EngineError(f"{what} failed: {str(event['error'])[:400]}")
        except aiohttp.ClientError as exc:
            raise EngineError(f"{what}: the container engine is unreachable ({exc})") from exc
        except TimeoutError as exc:
            raise EngineError(f"{what}: took longer than {PULL_TIMEOUT_S} s") from exc

    # -- networks --------------------------------------------------------------------------
    async def network_create(self, body: dict[str, Any]) -> str:
        return (await self._call("POST", "/networks/create", "creating a network", body=body))["Id"]

    async def networks(self, labels: Mapping[str, str | None]) -> list[dict[str, Any]]:
        params = {"filters": label_filter(labels)}
        return await self._call("GET", "/networks", "listing networks", params=params)

    # -- containers ------------------------------------------------------------------------
    async def create(self, name: str, body: dict[str, Any]) -> str:
        params = {"name": name}
        created = await self._call(
            "POST", "/containers/create", "creating the container", params=params, body=body
        )
        return created["Id"]

    async def create_libpod(self, spec: dict[str, Any]) -> str:
        """Create from podman's own container spec (``libpod_spec``); podman only."""
        created = await self._call(
            "POST",
            "/containers/create",
            "creating the container",
            body=spec,
            prefix=LIBPOD_PREFIX,
        )
        return created["Id"]

    async def start(self, container: str) -> None:
        await self._call(
            "POST", f"/containers/{container}/start", "starting the container", expect_json=False
        )

    async def inspect(self, container: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", f"/containers/{container}/json", "container")
        except EngineNotFound:
            return None

    async def stop(self, container: str, timeout_s: int = 0) -> None:
        try:
            await self._call(
                "POST",
                f"/containers/{container}/stop",
                "stopping the container",
                params={"t": str(timeout_s)},
                expect_json=False,
            )
        except EngineNotFound:
            pass

    async def remove(self, container: str) -> None:
        """Force-remove with its anonymous volumes; a missing container is fine."""
        try:
            await self._call(
                "DELETE",
                f"/containers/{container}",
                "removing the container",
                params={"force": "true", "v": "true"},
                expect_json=False,
            )
        except EngineNotFound:
            pass
        except EngineConflict as exc:
            if "already in progress" not in str(exc):  # a concurrent removal is fine too
                raise

    async def containers(
        self, labels: Mapping[str, str | None], *, all_states: bool = True
    ) -> list[dict[str, Any]]:
        params = {"filters": label_filter(labels), "all": "true" if all_states else "false"}
        return await self._call("GET", "/containers/json", "listing containers", params=params)

    async def logs(self, container: str, tail: int = 40) -> str:
        try:
            raw = await self._call(
                "GET",
                f"/containers/{container}/logs",
                "container logs",
                params={"stdout": "true", "stderr": "true", "tail": str(tail)},
                expect_json=False,
            )
        except EngineError:
            return ""
        return demux_logs(raw)
