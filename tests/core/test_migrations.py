"""The Alembic migrations produce exactly the schema the code maps (both databases)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db.migrate import alembic_config
from core.db.tables import metadata


async def test_migrated_schema_matches_metadata(app):
    def diff(sync_conn):
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)

    async with app.db.write.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


async def test_migrate_twice_is_a_no_op(app):
    await app.start()
    await app.start()
    async with app.db.write.connect() as conn:
        version = (await conn.exec_driver_sql("select version_num from alembic_version")).all()
    # features add revisions on their own branches off a shared one: every head is applied
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert sorted(version) == sorted((h,) for h in heads) and max(heads) >= "0002"
