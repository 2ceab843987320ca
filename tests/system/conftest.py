"""System tests: real ``rigshare run`` processes, killed and restarted, against anvil, a real
database, real provider agents and the Telegram Bot API stand-in. They run in CI, where a
missing anvil, PostgreSQL or Redis fails them (anvil comes from ``scripts/test-deps.sh``,
PostgreSQL and Redis from ``make services``); ``-m "not system"`` leaves them out locally."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tests.contracts.anvil import anvil_binary, running_anvil


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    if os.environ.get("CI"):
        try:
            anvil_binary()
        except pytest.skip.Exception as exc:
            pytest.fail(f"the system tests must run in CI: {exc}")
    with running_anvil() as url:
        yield url


@pytest.fixture
def needs_pg_and_redis() -> None:
    missing = [
        name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable(port)
    ]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} on 127.0.0.1 required in CI")
        pytest.skip(f"{' and '.join(missing)} not reachable on 127.0.0.1")
