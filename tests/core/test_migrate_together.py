"""Service processes that start at once on a new database take turns to migrate it: every
one of them starts, and the schema is migrated once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory

from core.db.engine import create_database
from core.db.migrate import alembic_config, migrate


async def test_processes_starting_together_migrate_once(settings):
    if settings.database_schema:
        from tests.support import pg_drop_schema, pg_exec

        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{settings.database_schema}"')
    dbs = [
        create_database(settings.database_url, schema=settings.database_schema) for _ in range(4)
    ]
    try:
        await asyncio.gather(*(migrate(db) for db in dbs))
        async with dbs[0].read.connect() as conn:
            rows = (await conn.exec_driver_sql("select version_num from alembic_version")).all()
    finally:
        for db in dbs:
            await db.dispose()
        if settings.database_schema:
            await asyncio.to_thread(pg_drop_schema, settings.database_schema)
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert sorted(r[0] for r in rows) == sorted(heads)
