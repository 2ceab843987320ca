"""``GET|POST /agent/v1/speedtest``: agents measure their network rate against the service.

An agent downloads and uploads a few MiB at start and every six hours; the rate it measures
is what ``/gpus`` shows. Bodies are capped (8 MiB) and each agent may test a few times an hour,
so the endpoint cannot be used to load the service.
"""

from __future__ import annotations

import os

from aiohttp import web

MAX_BYTES = 8 * 1024 * 1024
_BLOCK = os.urandom(1024 * 1024)  # incompressible, built once


def _size(request: web.Request) -> int:
    try:
        size = int(request.query.get("bytes", str(4 * 1024 * 1024)))
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error":"invalid","reason":"bytes must be a number"}'
        ) from None
    if not 1 <= size <= MAX_BYTES:
        raise web.HTTPBadRequest(text='{"error":"invalid","reason":"bytes: 1 to 8 MiB"}')
    return size


async def download(request: web.Request) -> web.StreamResponse:
    size = _size(request)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = size
    await response.prepare(request)
    left = size
    while left > 0:
        chunk = _BLOCK[: min(left, len(_BLOCK))]
        await response.write(chunk)
        left -= len(chunk)
    await response.write_eof()
    return response


async def upload(request: web.Request) -> web.Response:
    received = 0
    while chunk := await request.content.read(256 * 1024):
        received += len(chunk)
        if received > MAX_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BYTES, received)
    return web.json_response({"bytes": received})
