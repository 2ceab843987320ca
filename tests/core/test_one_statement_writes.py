"""A write of one statement (``uow(one_statement=True)``, the key-value store's upsert) needs
no transaction of its own: on PostgreSQL it runs in AUTOCOMMIT on the shared pool, without
the BEGIN and COMMIT round trips; on SQLite it is a writer's turn like any write."""

from __future__ import annotations

from core.services.kv import KeyValueService


async def test_one_statement_writes_skip_the_transaction_on_postgresql_only(app, backend):
    async with app.uow(one_statement=True) as uow:
        assert uow.session is not None
        level = (
            (await uow.session.connection())
            .sync_connection.get_execution_options()
            .get("isolation_level")
        )
    async with app.uow() as uow:
        assert uow.session is not None
        plain = (
            (await uow.session.connection())
            .sync_connection.get_execution_options()
            .get("isolation_level")
        )
    assert plain is None  # a transaction of its own, as every other write
    assert level == ("AUTOCOMMIT" if backend == "postgres" else None)


async def test_a_kept_value_is_written_replaced_and_read_back(app):
    kv = KeyValueService(app.uow, app.clock)
    await kv.put("ask:telegram:1", "first")
    await kv.put("ask:telegram:1", "second")  # the upsert replaces it
    await kv.put("ask:telegram:2", "")
    assert (await kv.get("ask:telegram:1"), await kv.get("ask:telegram:2")) == ("second", "")
