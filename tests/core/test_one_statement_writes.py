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


async def test_several_values_are_written_all_or_none_without_a_transaction(app):
    """``put_many`` is one statement run for every row: the row that fails (here a value
    the table refuses) takes the rows before it back with it, on both databases."""
    kv = KeyValueService(app.uow, app.clock)
    await kv.put("ask:telegram:1", "kept")
    refused = {"ask:telegram:1": "replaced", "ask:telegram:2": "new", "ask:telegram:3": None}
    async with app.uow(one_statement=True) as uow:
        try:
            await uow.settings.set_values(refused)  # type: ignore[arg-type] - a NULL on purpose
            await uow.commit()
        except Exception as e:  # the driver's integrity error
            assert "null" in str(e).lower()
        else:
            raise AssertionError("a NULL value was stored")
    assert (await kv.get("ask:telegram:1"), await kv.get("ask:telegram:2")) == ("kept", None)
    await kv.put_many({"ask:telegram:1": "replaced", "ask:telegram:2": "new"})
    assert (await kv.get("ask:telegram:1"), await kv.get("ask:telegram:2")) == ("replaced", "new")
