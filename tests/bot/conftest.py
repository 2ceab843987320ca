"""Fixtures for the agent API: the application wired with the HTTP agent gateway, served
on a free loopback port by the production web application."""

from __future__ import annotations

import pytest

from bot.bootstrap import App
from bot.common.ratelimit import Rate
from bot.settings import Settings
from bot.web.agent_api import AgentLimits
from bot.web.app import WebServer
from tests.fakes.clock import FakeClock
from tests.support import started_app


@pytest.fixture
async def http_app(settings: Settings, clock: FakeClock):
    async with started_app(settings, clock, agents="http") as application:
        yield application


@pytest.fixture
def limits() -> AgentLimits:
    return AgentLimits()


@pytest.fixture
async def server(http_app: App, limits: AgentLimits):
    web = await WebServer(http_app, limits=limits).start()
    try:
        yield web
    finally:
        await web.stop()


@pytest.fixture
def tight_limits() -> AgentLimits:
    return AgentLimits(heartbeat=Rate(per_second=0.01, burst=3))
