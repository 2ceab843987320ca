"""Every statement a renter's command runs is found in SQLAlchemy's compiled cache once the
command has run before.

A statement SQLAlchemy cannot cache (a dialect ``insert().on_conflict_do_...``, a value
rendered into the SQL) is compiled again on every update: that cost a large share of each
update's time before the hot paths were written to be cached (``core.db.repo_base.upsert``,
statements built once). A change that brings such a statement back to a command's path
shows here with its SQL, as does a statement with a list IN, which SQLAlchemy renders anew at
every execution.
"""

from __future__ import annotations

from sqlalchemy import event

from tests.bot.telegram.support import ALICE, BOB


async def _round(tg) -> None:  # noqa: ANN001 - the Harness
    await tg.send(ALICE, "/gpus")
    await tg.send(ALICE, "/gpus 3090 sort=reliability")
    page = (await tg.send(BOB, "/gpus"))[0]
    await tg.press(BOB, page, "▶")  # the next page
    quote = (await tg.send(ALICE, "/rent 3090 3h"))[0]
    await tg.press(ALICE, quote, "Cancel")
    await tg.send(BOB, "/status")
    await tg.send(BOB, "/help")
    await tg.app.settle()
    await tg.front.once.flush()
    await tg.front.rig.talk.flush()  # the pending questions written behind, in this round


async def test_repeated_commands_compile_nothing(tg_each_db):
    tg = tg_each_db
    await tg.send(ALICE, "/start")
    await tg.send(BOB, "/start")
    await _round(tg)  # the first time, each statement is compiled once
    compiled: list[str] = []

    def _seen(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        # raw driver SQL (BEGIN) has no compiled form and nothing to cache
        if context.compiled is not None and context.cache_hit.name != "CACHE_HIT":
            compiled.append(f"{context.cache_hit.name}: {statement[:120]}")
        # a list IN is rendered again at each execution (core.db.repo_base.one_of)
        if context.compiled is not None and context.compiled.post_compile_params:
            compiled.append(f"rendered per execution: {statement[:120]}")

    engines = {tg.app.db.write.sync_engine, tg.app.db.read.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", _seen)
    try:
        await _round(tg)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", _seen)
    assert compiled == []
