"""Shared fixtures: the application built through the production bootstrap on fakes.

Every integration test runs on a real SQLite file and, when PostgreSQL answers at
127.0.0.1:5432 (always in CI), on PostgreSQL too, each test in a schema of its own.
"""

from __future__ import annotations

import os
import secrets

import pytest

from bot.settings import Settings
from tests.fakes.clock import FakeClock
from tests.support import PG_URL, pg_available, started_app

pytest_plugins = ["tests.engine.fixtures"]

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path) -> Settings:
    if backend == "sqlite":
        return Settings(
            _env_file=None, chain="fake", database_url=f"sqlite:///{tmp_path}/rigshare.sqlite3"
        )
    return Settings(
        _env_file=None,
        chain="fake",
        database_url=PG_URL,
        database_schema=f"t_{secrets.token_hex(6)}",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock):
    async with started_app(settings, clock) as application:
        yield application
