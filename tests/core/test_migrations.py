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


async def test_secrets_dead_lettered_before_scrubbing_are_scrubbed_by_the_migration(app):
    """0012: a database that kept a dead-lettered private key in plain text loses it."""
    from core.db.migrate import migrate

    await app.start()
    insert = (
        "insert into outbox (user_id, kind, payload_json, dedupe_key, created_at,"
        " next_attempt_at, private, attempts) values (1, '{kind}', '{payload}', '{key}', 0,"
        " {due}, true, 20)"
    )
    secret = '{"rental_id": 5, "private_key": "SECRET"}'
    async with app.db.write.begin() as conn:
        for kind, key, due in (("private_key", "dead", 2**62), ("private_key", "live", 0)):
            await conn.exec_driver_sql(insert.format(kind=kind, payload=secret, key=key, due=due))
        # as before 0012 existed: its branch off 0003 is not applied yet
        await conn.exec_driver_sql("delete from alembic_version where version_num = '0012'")
    await migrate(app.db)
    async with app.db.write.connect() as conn:
        rows = dict(
            (await conn.exec_driver_sql("select dedupe_key, payload_json from outbox")).all()
        )
    assert rows["dead"] == '{"rental_id": 5, "scrubbed": true}'
    assert rows["live"] == secret  # still to be delivered: the renter needs it
