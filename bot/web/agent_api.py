"""The agent API (mounted at ``/agent/v1/``): heartbeats, the command long-poll, results.

Agents dial out (NAT-friendly) with ``Authorization: Bearer <token from /addmachine>``.
Every body is read with a size limit and validated with ``core.wire``; bad input is answered
``{"error": code, "reason": text}`` with a 4xx and changes nothing:
400 not JSON (also NaN, numbers longer than any field, nesting over 32 levels:
``core.safe_json``), 401 missing/unknown/revoked token, 413 too large, 422 schema or protocol
violation (every text and number bounded by the column it is stored in), 429 over the agent's
rate limit (with Retry-After). A beat the database still refuses fails alone (500 with a
reference for its sender; ``core.services.heartbeat_batch``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as WireError

from bot.common.ratelimit import Rate, TokenBuckets
from bot.web import speedtest
from bot.web.auth_cache import PollAuthCache
from bot.web.hub import CommandHub
from bot.web.services import AgentApiServices
from core.domain.limits import INT32_MAX
from core.errors import Forbidden, ValidationError
from core.safe_json import parse_json
from core.services.heartbeat_batch import HeartbeatBatcher
from core.services.providers import hash_token
from core.wire import CommandBatch, Heartbeat, ResultBatch

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEARTBEAT_MAX_BYTES = 32 * 1024
RESULTS_MAX_BYTES = 256 * 1024
MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 25.0


@dataclass(frozen=True)
class AgentLimits:
    """Per-agent rates. A heartbeat burst covers an agent resending its outage buffer."""

    heartbeat: Rate = field(default_factory=lambda: Rate(per_second=1.0, burst=150))
    commands: Rate = field(default_factory=lambda: Rate(per_second=1.0, burst=30))
    results: Rate = field(default_factory=lambda: Rate(per_second=2.0, burst=60))
    speedtest: Rate = field(default_factory=lambda: Rate(per_second=1 / 600, burst=6))


APP = web.AppKey("app", AgentApiServices)
HUB = web.AppKey("hub", CommandHub)
BATCHER = web.AppKey("batcher", HeartbeatBatcher)
BUCKETS = web.AppKey("buckets", dict)
POLL_AUTH = web.AppKey("poll_auth", PollAuthCache)


def create_agent_api(app: AgentApiServices, limits: AgentLimits | None = None) -> web.Application:
    """The agent sub-application; its hub poller and heartbeat batcher live as long as it."""
    limits = limits or AgentLimits()
    api = web.Application(middlewares=[_errors])
    api[APP] = app
    api[HUB] = app.command_hub
    api[BATCHER] = HeartbeatBatcher(app.agents)
    api[POLL_AUTH] = PollAuthCache(app.agents)
    api[BUCKETS] = {
        "heartbeat": TokenBuckets(limits.heartbeat),
        "commands": TokenBuckets(limits.commands),
        "results": TokenBuckets(limits.results),
        "speedtest": TokenBuckets(limits.speedtest),
    }
    api.router.add_post("/heartbeat", heartbeat)
    api.router.add_get("/commands", commands)
    api.router.add_post("/results", results)
    api.router.add_get("/speedtest", speedtest_download)
    api.router.add_post("/speedtest", speedtest_upload)
    api.cleanup_ctx.append(_background)
    api.on_shutdown.append(_release_polls)
    return api


async def _background(api: web.Application) -> AsyncIterator[None]:
    hub = api[HUB]
    hub.open()
    tasks = [asyncio.create_task(hub.run()), asyncio.create_task(api[POLL_AUTH].run())]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await api[BATCHER].close()


async def _release_polls(api: web.Application) -> None:
    api[HUB].close()


def _fail(status: int, code: str, reason: str, **headers: str) -> web.Response:
    body = json.dumps({"error": code, "reason": reason})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Refused as refused:
        return refused.response
    except Forbidden:
        return _fail(401, "unauthorized", "Unknown or revoked agent token.")
    except ValidationError as exc:
        return _fail(422, "invalid", exc.user_message)
    except web.HTTPException:
        raise
    except Exception:
        ref = secrets.token_hex(4)
        log.exception("agent API error, reference %s", ref)
        return _fail(500, "internal", f"Internal error, reference {ref}.")


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise _Refused(_fail(401, "unauthorized", "Send 'Authorization: Bearer <agent token>'."))
    return token


def _limit(request: web.Request, kind: str, key: str) -> None:
    wait = request.app[BUCKETS][kind].take(key)
    if wait:
        retry = str(max(1, math.ceil(wait)))
        raise _Refused(
            _fail(
                429,
                "rate_limited",
                f"Too many {kind} requests; retry in {retry} s.",
                **{"Retry-After": retry},
            )
        )


async def _read(request: web.Request, model: type[M], limit: int) -> M:
    if request.content_length is not None and request.content_length > limit:
        raise _Refused(_fail(413, "too_large", f"Body over {limit} bytes."))
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise _Refused(_fail(413, "too_large", f"Body over {limit} bytes."))
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise _Refused(_fail(400, "bad_json", str(exc)[:300])) from exc
    try:
        return model.model_validate(data)
    except WireError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        reason = f"{exc.error_count()} invalid field(s); {where}: {first['msg']}"
        raise _Refused(_fail(422, "invalid", reason[:500])) from exc


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def heartbeat(request: web.Request) -> web.Response:
    """``POST /heartbeat``: Heartbeat -> HeartbeatAck."""
    key = hash_token(_token(request))
    _limit(request, "heartbeat", key)
    hb = await _read(request, Heartbeat, HEARTBEAT_MAX_BYTES)
    try:
        return _json(await request.app[BATCHER].submit(key, hb))
    except Forbidden:
        request.app[POLL_AUTH].forget(key)
        raise


async def _machine(request: web.Request, kind: str) -> int:
    token = _token(request)
    _limit(request, kind, hash_token(token))
    return await request.app[APP].agents.authenticate(token)


async def _polling_machine(request: web.Request) -> int:
    """Like :func:`_machine`, through the poll auth cache (see ``bot/web/auth_cache.py``)."""
    token = _token(request)
    _limit(request, "commands", hash_token(token))
    return await request.app[POLL_AUTH].machine(token)


def _query_number(request: web.Request, name: str, default: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= high:
        raise _Refused(_fail(422, "invalid", f"'{name}' must be a number from 0 to {high:g}."))
    return value


async def commands(request: web.Request) -> web.Response:
    """``GET /commands?after=<seq>&wait=<s>``: long-poll for commands -> CommandBatch."""
    machine_id = await _polling_machine(request)
    after = int(_query_number(request, "after", 0, INT32_MAX))  # seq is an Integer column
    wait = _query_number(request, "wait", DEFAULT_WAIT_S, MAX_WAIT_S)
    app, hub = request.app[APP], request.app[HUB]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not hub.closed:
        woken = hub.watch(machine_id)  # before reading, so a wake in between is not lost
        if hub.may_have_commands(machine_id):
            generation = hub.generation(machine_id)
            batch, still_open = await app.agent_commands.poll(machine_id, after)
            if not still_open:
                hub.settle(machine_id, generation)
            if batch.commands:
                return _json(batch)
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining):
                await woken.wait()
        except TimeoutError:
            break
    return _json(CommandBatch(commands=[], server_time=app.clock.now()))


async def speedtest_download(request: web.Request) -> web.StreamResponse:
    """``GET /speedtest?bytes=N``: N bytes for the agent's download rate."""
    await _machine(request, "speedtest")
    return await speedtest.download(request)


async def speedtest_upload(request: web.Request) -> web.Response:
    """``POST /speedtest``: counts the body for the agent's upload rate."""
    await _machine(request, "speedtest")
    return await speedtest.upload(request)


async def results(request: web.Request) -> web.Response:
    """``POST /results``: ResultBatch -> ResultAck (replays are listed as ignored)."""
    machine_id = await _machine(request, "results")
    batch = await _read(request, ResultBatch, RESULTS_MAX_BYTES)
    ack = await request.app[APP].agent_commands.record_results(machine_id, batch)
    return _json(ack)
