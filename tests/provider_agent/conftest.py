"""Fixtures for the agent's tests; the container engine fixtures come from tests/engine."""

from __future__ import annotations

import secrets

import pytest

from bot.bootstrap import build_app
from bot.settings import Settings
from bot.web.app import WebServer
from provider_agent.ssh_keys import KeyPair, generate_keypair


@pytest.fixture
async def served(tmp_path):
    """The service (SQLite, simulated chain) with its web server: the agent API."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/agent.sqlite3")
    app = build_app(settings, agents="http", auto_approve=True)
    await app.start()
    server = await WebServer(app).start()
    try:
        yield app, server
    finally:
        await server.stop()
        await app.close()


@pytest.fixture(scope="session")
def probe_pair() -> KeyPair:
    return generate_keypair("rigshare-agent-probe")


@pytest.fixture(scope="session")
def renters() -> tuple[KeyPair, KeyPair]:
    return generate_keypair("alice"), generate_keypair("bob")


@pytest.fixture
def rental_id() -> str:
    return str(secrets.randbelow(10**9) + 1)
