"""HTTP client of the agent API (aiohttp). Speaks only ``core.wire`` messages.

Every call raises ServiceUnreachable (network, timeout, 5xx, 429: retry later), TokenRefused
(401: the token is revoked or wrong) or RequestRejected (other 4xx: do not resend).
The token goes in the Authorization header only; it is never logged.
"""

from __future__ import annotations

import json
from typing import TypeVar

import aiohttp
from pydantic import BaseModel
from pydantic import ValidationError as WireError

from core.wire import CommandBatch, Heartbeat, HeartbeatAck, ResultAck, ResultBatch
from provider_agent.errors import RequestRejected, ServiceUnreachable, TokenRefused

M = TypeVar("M", bound=BaseModel)
API = "/agent/v1"


class ServiceClient:
    def __init__(self, server: str, token: str, *, timeout: float = 10.0) -> None:
        self._base = server.rstrip("/") + API
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the token
        return f"ServiceClient({self._base!r})"

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    async def heartbeat(self, hb: Heartbeat) -> HeartbeatAck:
        return await self._call("POST", "/heartbeat", HeartbeatAck, body=hb)

    async def commands(self, after: int, wait: float) -> CommandBatch:
        """Long-poll: returns as soon as commands newer than ``after`` exist, or after ``wait``."""
        params = {"after": str(after), "wait": f"{wait:g}"}
        return await self._call(
            "GET", "/commands", CommandBatch, params=params, limit_s=wait + self._timeout
        )

    async def results(self, batch: ResultBatch) -> ResultAck:
        return await self._call("POST", "/results", ResultAck, body=batch)

    async def download(self, size: int) -> int:
        """Fetch ``size`` bytes from the service's speed test; the bytes received."""
        return len(await self._raw("GET", "/speedtest", params={"bytes": str(size)}))

    async def upload(self, size: int) -> int:
        """Send ``size`` bytes to the service's speed test; the bytes it counted."""
        answer = await self._raw("POST", "/speedtest", data=bytes(size))
        return int(json.loads(answer).get("bytes", 0))

    async def _raw(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> bytes:
        try:
            async with self._client().request(
                method,
                self._base + path,
                params=params,
                data=data,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ServiceUnreachable(f"speed test answered {resp.status}")
                return body
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServiceUnreachable(f"{type(exc).__name__}: {exc}"[:300]) from exc

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[M],
        *,
        body: BaseModel | None = None,
        params: dict[str, str] | None = None,
        limit_s: float | None = None,
    ) -> M:
        data = body.model_dump_json().encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self._client().request(
                method,
                self._base + path,
                data=data,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=limit_s or self._timeout),
            ) as resp:
                text = await resp.text()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServiceUnreachable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if status == 200:
            try:
                return answer.model_validate_json(text)
            except WireError as exc:
                raise ServiceUnreachable(f"unexpected answer from the service: {exc}") from exc
        reason = _reason(text)
        if status == 401:
            raise TokenRefused(f"the service refused the agent token: {reason}")
        if status == 429 or status >= 500:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise ServiceUnreachable(f"service answered {status}: {reason}", retry_after=wait)
        raise RequestRejected(status, reason)


def _reason(text: str) -> str:
    try:
        return str(json.loads(text).get("reason", ""))[:300]
    except (ValueError, AttributeError):
        return text[:300]
