"""/gpus pages are reused for the same filters until the market changes
(``core.services.search_cache``): a change this process makes shows at the next search, one
made by another process within ``market_cache_s``; quotes never read the kept pages."""

from __future__ import annotations

from sqlalchemy import event

from bot.bootstrap import build_app
from core.domain.listings import ListingQuery
from core.services.search_cache import SearchCache
from core.services.views import SearchPage
from tests.support import add_provider, renter


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _page(n: int) -> SearchPage:
    return SearchPage(offers=(), page=1, has_more=False, total_available=n, sort="best")


def test_a_page_is_kept_for_its_query_until_invalidated_or_too_old():
    ticks = Ticks()
    cache = SearchCache(1.0, monotonic=ticks)
    q, other = ListingQuery(model="rtx4090"), ListingQuery(model="h100")
    assert cache.get(q) is None
    cache.put(q, cache.version, _page(1))
    assert cache.get(q) == _page(1) and cache.get(other) is None
    cache.invalidate()  # this process changed the market
    assert cache.get(q) is None
    cache.put(q, cache.version, _page(2))
    ticks.t += 0.99
    assert cache.get(q) == _page(2)
    ticks.t += 0.01  # as old as ttl_s: another process may have changed it
    assert cache.get(q) is None
    # a page read while the market changed is out of date at once: not kept
    version = cache.version
    cache.invalidate()
    cache.put(q, version, _page(3))
    assert cache.get(q) is None
    assert (cache.hits, cache.misses) == (2, 5)


def test_a_ttl_of_zero_keeps_nothing():
    cache = SearchCache(0)
    cache.put(ListingQuery(), cache.version, _page(1))
    assert cache.get(ListingQuery()) is None


def _reads(app) -> list[str]:  # noqa: ANN001
    seen: list[str] = []

    def _seen(_conn, _cursor, statement, *_rest) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(app.db.read.sync_engine, "before_cursor_execute", _seen)
    return seen


async def test_a_change_in_this_process_shows_at_once_and_from_another_within_the_ttl(
    app, settings, clock
):
    ticks = Ticks()
    app.market.pages.monotonic = ticks
    who = await renter(app, "ann", wallet=False)
    await add_provider(app, "one", ["rtx4090"], 400_000)
    reads = _reads(app)
    first = await app.market.search(who, ListingQuery())
    assert first.total_available == 1 and len(reads) == 1
    again = await app.market.search(who, ListingQuery())
    assert again == first and len(reads) == 1  # the same page, no read
    assert len((await app.market.search(who, ListingQuery(model="h100"))).offers) == 0
    assert len(reads) == 2  # other filters: their own page

    # this process lists a second machine: the next search sees it
    await add_provider(app, "two", ["rtx4090"], 300_000)
    listed = await app.market.search(who, ListingQuery())
    assert listed.total_available == 2
    # and pauses one: seen at once as well
    _, machine_id = await add_provider(app, "three", ["rtx4090"], 350_000)
    async with app.uow() as tx:
        await tx.listings.set_status_for_machine(machine_id, ["available"], "paused")
        await tx.commit()
    assert (await app.market.search(who, ListingQuery())).total_available == 2

    # another process (its own application on the same database) lists a machine: this
    # process shows the kept page until it is market_cache_s old
    other = build_app(settings, clock=clock)
    try:
        await add_provider(other, "four", ["rtx4090"], 200_000)
    finally:
        await other.close()
    assert (await app.market.search(who, ListingQuery())).total_available == 2
    ticks.t += settings.market_cache_s
    fresh = await app.market.search(who, ListingQuery())
    assert fresh.total_available == 3
    assert fresh.offers[0].price_per_hour == 200_000
    # a quote reads the database, never a kept page
    quote = await app.market.quote(who, ListingQuery(model="rtx4090"), 3600)
    assert quote.offer.price_per_hour == 200_000
