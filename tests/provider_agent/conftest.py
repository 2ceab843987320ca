"""Fixtures for the agent's tests; the container engine fixtures come from tests/engine."""

from __future__ import annotations

import secrets

import pytest

from provider_agent.ssh_keys import KeyPair, generate_keypair


@pytest.fixture(scope="session")
def probe_pair() -> KeyPair:
    return generate_keypair("rigshare-agent-probe")


@pytest.fixture
def rental_id() -> str:
    return str(secrets.randbelow(10**9) + 1)
