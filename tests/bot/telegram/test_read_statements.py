"""How many statements the reads of a /gpus answer cost, on SQLite and PostgreSQL.

The first page shows the total, counted in the page's own statement (``search_counted``);
the next page shows none. The pending question is read before any command (a new command
replaces it): once, at the user's first update, since a polling front end keeps it in memory
(``bot.common.conversation``). A change that adds a read to the search's path shows here with
its SQL.
"""

from __future__ import annotations

from sqlalchemy import event

from tests.bot.telegram.support import ALICE


async def test_a_gpus_page_is_one_statement(tg_each_db):
    tg = tg_each_db
    await tg.send(ALICE, "/start")
    seen: list[str] = []

    def _seen(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        # raw driver SQL (BEGIN) is no statement of ours; on PostgreSQL single-statement
        # writes (the update ledger's) share the read engine: only reads are counted
        if context.compiled is not None and statement.lstrip().upper().startswith("SELECT"):
            seen.append(" ".join(statement.split())[:60])

    read = tg.app.db.read.sync_engine
    event.listen(read, "before_cursor_execute", _seen)
    try:
        first = (await tg.send(ALICE, "/gpus"))[0]
        on_first, seen[:] = list(seen), []
        await tg.press(ALICE, first, "▶")
        on_next = list(seen)
    finally:
        event.remove(read, "before_cursor_execute", _seen)
    assert "in all" in first.text  # the total is shown
    assert len(on_first) == 1, on_first
    assert on_first[0].startswith("SELECT page.id"), on_first
    assert len(on_next) == 1, on_next
