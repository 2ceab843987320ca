"""The chain watcher keeps its cursor on PostgreSQL too: the settings key fits the column
(64 characters) for any chain id, so the cursor is stored and read back after a restart."""

from __future__ import annotations

import os
import secrets

import pytest

from bot.bootstrap import build_app
from core.db import tables
from tests.contracts.chain_support import deploy_on_anvil
from tests.support import PG_URL, pg_available, pg_drop_schema, pg_exec


@pytest.fixture
def schema():
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name = f"t_{secrets.token_hex(6)}"
    pg_exec(f'CREATE SCHEMA "{name}"')
    yield name
    pg_drop_schema(name)


async def test_the_cursor_is_stored_on_postgres_and_survives_a_restart(anvil_url, schema):
    chain = await deploy_on_anvil(anvil_url, "pgcursor")
    settings = chain.settings(None, database_url=PG_URL, database_schema=schema)
    app = build_app(settings)
    await app.start()
    key = await app.watcher.cursor_key()
    assert len(key) <= tables.settings_kv.c.key.type.length
    longest = key.replace(f":{app.escrow.chain_id}:", ":4294967295:")  # a 10-digit chain id
    assert len(longest) <= tables.settings_kv.c.key.type.length
    await app.watcher.poll()
    head = await chain.w3.eth.block_number
    assert await app.watcher.cursor() == head
    await app.close()
    again = build_app(settings)  # the next process
    await again.start()
    try:
        assert await again.watcher.cursor() == head
    finally:
        await again.close()
        await chain.w3.provider.disconnect()
