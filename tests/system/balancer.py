"""A tiny HTTP load balancer on loopback: round robin over the service processes.

What any production balancer (nginx, HAProxy, a cloud load balancer) does for rigshare: every
request goes to the next backend; a backend that refuses the connection (a killed process) is
skipped and the request goes to the next one, so agents and Telegram's webhook calls keep
being served while one process is down. Requests are forwarded as they are (method, path,
query, headers, body); long-polls simply take long.
"""

from __future__ import annotations

import itertools
from collections import Counter

import aiohttp
from aiohttp import web

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Balancer:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self.served: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Balancer:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=2),
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._next)]
            try:
                async with self._http.request(
                    request.method,
                    backend + request.rel_url.path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                ) as answer:
                    payload = await answer.read()
                    self.served[backend] += 1
                    out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
                    return web.Response(status=answer.status, body=payload, headers=out)
            except aiohttp.ClientConnectorError:
                continue  # that process is down: the next one serves
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # killed while serving: like a real balancer, answer 502 (callers retry)
                return web.Response(status=502, text="backend went away")
        return web.Response(status=503, text="no backend is up")
