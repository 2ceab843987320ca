"""A quote is one read and one write: the best offer is found with the template its instance
would run in one SELECT, and the quoted rental is one INSERT (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import event

from core.domain.instances import InstanceAsk
from core.domain.listings import ListingQuery
from tests.support import add_provider

HOUR = 3600


async def _statements(app, step) -> list[str]:  # noqa: ANN001
    seen: dict[int, str] = {}  # by execution (PostgreSQL's read engine shares events)

    def _seen(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        seen[id(context)] = statement.split(None, 1)[0].upper()

    engines = {app.db.write.sync_engine, app.db.read.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", _seen)
    try:
        result = await step
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", _seen)
    return [s for s in seen.values() if s != "BEGIN"], result


async def test_a_quote_reads_once_and_writes_once(app):
    await add_provider(app, "prov", ["rtx4090"], 500_000)
    renter = await app.users.identify("terminal", "ann", "ann")
    plain = app.market.quote(renter, ListingQuery(model="rtx4090"), HOUR)
    statements, quote = await _statements(app, plain)
    assert statements == ["SELECT", "INSERT"]
    assert quote.instance is not None and quote.instance.template  # the default template
    named = ListingQuery(model="rtx4090", instance=InstanceAsk(template=quote.instance.template))
    statements, again = await _statements(app, app.market.quote(renter, named, HOUR))
    assert statements == ["SELECT", "INSERT"]
    assert again.instance == quote.instance
