"""Fixtures: a local relay (plain or TLS), a migrated SQLite database, a clock near real time
(pyWalletConnect stamps session expiries with the wall clock)."""

from __future__ import annotations

import time

import pytest

from core.db.engine import create_database
from core.db.mapping import start_mappers
from core.db.migrate import migrate
from rigshare_dev.walletconnect.local_relay import LocalRelay
from tests.contracts.walletconnect.support import PROJECT, self_signed
from tests.fakes.clock import FakeClock


@pytest.fixture
def wc_clock() -> FakeClock:
    return FakeClock(int(time.time()))


@pytest.fixture
async def db(tmp_path):
    start_mappers()
    database = create_database(f"sqlite:///{tmp_path}/wc.sqlite3")
    await migrate(database)
    yield database
    await database.dispose()


@pytest.fixture
async def relay():
    server = await LocalRelay(project_id=PROJECT).start()
    yield server
    await server.stop()


@pytest.fixture
def tls(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
async def tls_relay(tls):
    server = await LocalRelay(project_id=PROJECT, ssl=tls[0]).start()
    yield server
    await server.stop()
