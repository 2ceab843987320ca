"""Market service unit tests (search, quote, cheaper, templates) on the in-memory unit of work
and on SQLite, with the in-memory escrow for its minimums: the fake is held to the SQL
search's filters, order, paging and count, and to its GPU holds."""

from __future__ import annotations

import pytest

from core.domain.instances import InstanceAsk, parse_image
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from core.errors import NoOffer, NotFound, ValidationError
from core.services.base import MarketRules
from core.services.market import PAGE_SIZE, MarketService
from core.services.rental_rules import cancel_unpaid
from core.services.requests import answering
from core.services.views import Principal
from rigshare_dev.fakes.escrow import FakeEscrow
from tests.core.service_units import free_gpus, holders, host, user

HOUR = 3600


@pytest.fixture
def escrow(clock) -> FakeEscrow:
    return FakeEscrow(clock)


@pytest.fixture
def market(uow, clock, escrow) -> MarketService:
    return MarketService(uow, clock, MarketRules(), escrow=escrow)


async def _renter(uow, clock, name: str = "ann") -> Principal:
    return Principal(await user(uow, clock, name), "terminal")


async def _rentals(uow) -> list:
    async with uow(readonly=True) as tx:
        return list(await tx.rentals.in_states(list(S)))


async def test_search_orders_by_price_and_by_price_weighed_by_reliability(uow, clock, market):
    cheap = await host(uow, clock, "cheap", price=400_000, reliability_bps=4_000)
    mid = await host(uow, clock, "mid", price=500_000, reliability_bps=10_000)
    dear = await host(uow, clock, "dear", price=700_000, reliability_bps=9_000)
    await host(uow, clock, "other", model="h100", price=100_000)
    ann = await _renter(uow, clock)
    by_price = await market.search(ann, ListingQuery(model="rtx4090", sort="price"))
    assert [o.listing_id for o in by_price.offers] == [x.listing_id for x in (cheap, mid, dear)]
    assert (by_price.total_available, by_price.has_more) == (3, False)
    # effective price: 400k / 40 % = 1M, 500k / 100 % = 500k, 700k / 90 % = 778k
    best = await market.search(ann, ListingQuery(model="rtx4090", sort="best"))
    assert [o.listing_id for o in best.offers] == [x.listing_id for x in (mid, dear, cheap)]
    by_rel = await market.search(ann, ListingQuery(sort="reliability"))
    assert [o.reliability_bps for o in by_rel.offers] == [10_000, 9_000, 8_000, 4_000]
    quote = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert quote.offer.listing_id == mid.listing_id  # the quote takes the best, not the cheapest
    assert quote.deposit == 500_000


async def test_search_filters_and_pages(uow, clock, market):
    hosts = [await host(uow, clock, f"h{i}", price=100_000 * (i + 1)) for i in range(PAGE_SIZE + 1)]
    far = await host(uow, clock, "far", price=50_000, region="us-east")
    ann = await _renter(uow, clock)
    first = await market.search(ann, ListingQuery(region="eu"))
    assert [o.listing_id for o in first.offers] == [h.listing_id for h in hosts[:PAGE_SIZE]]
    assert (first.has_more, first.total_available) == (True, PAGE_SIZE + 1)
    second = await market.search(ann, ListingQuery(region="eu"), page=2)
    assert [o.listing_id for o in second.offers] == [hosts[-1].listing_id]
    assert (second.has_more, second.total_available) == (False, -1)  # counted on page 1 only
    capped = await market.search(ann, ListingQuery(max_price_per_hour=200_000))
    assert [o.listing_id for o in capped.offers] == [
        far.listing_id,
        *(h.listing_id for h in hosts[:2]),
    ]
    assert (await market.search(ann, ListingQuery(region="us"))).total_available == 1
    others = await market.search(ann, ListingQuery(exclude_ids=frozenset({far.listing_id})))
    assert others.offers[0].listing_id == hosts[0].listing_id
    assert others.total_available == PAGE_SIZE + 1
    assert (await market.search(ann, ListingQuery(min_vram_gb=48))).offers == ()


async def test_a_held_gpu_is_not_quoted_twice_and_a_released_one_is_again(uow, clock, market):
    one = await host(uow, clock, "one", price=400_000)
    two = await host(uow, clock, "two", price=600_000)
    ann, bob = await _renter(uow, clock, "ann"), await _renter(uow, clock, "bob")
    first = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert first.offer.listing_id == one.listing_id
    async with uow() as tx:  # what a confirm does: hold the quoted GPU until paid
        rental = await tx.rentals.get(first.rental_id)
        held = await tx.gpus.hold(one.listing_id, rental.id, 1, clock.now() + 900)
        assert held == list(one.gpu_uuids)
        assert await tx.gpus.hold(one.listing_id, rental.id, 1, None) is None  # none left
        rental.transition(S.AWAITING_PAYMENT)
        await tx.commit()
    assert await free_gpus(uow, one.listing_id) == (0, 0)
    assert await holders(uow, one.machine_id) == [first.rental_id]
    second = await market.quote(bob, ListingQuery(model="rtx4090"), HOUR)
    assert second.offer.listing_id == two.listing_id
    page = await market.search(bob, ListingQuery(model="rtx4090"))
    assert [o.listing_id for o in page.offers] == [two.listing_id]
    with pytest.raises(NoOffer) as busy:
        await market.quote(bob, ListingQuery(listing_id=one.listing_id), HOUR)
    assert busy.value.key == "market.listing_busy"
    async with uow() as tx:  # the hold lapses: the keeper releases it
        await cancel_unpaid(tx, await tx.rentals.get(first.rental_id), "not paid in time")
        await tx.commit()
    assert await free_gpus(uow, one.listing_id) == (1, 1)
    assert await holders(uow, one.machine_id) == [None]
    again = await market.quote(bob, ListingQuery(model="rtx4090"), HOUR)
    assert again.offer.listing_id == one.listing_id


async def test_several_gpus_of_one_listing_and_not_enough_of_them(uow, clock, market):
    quad = await host(uow, clock, "quad", model="h100", gpus=4, price=2_000_000)
    ann = await _renter(uow, clock)
    quote = await market.quote(ann, ListingQuery(model="h100", gpu_count=3), HOUR)
    assert (quote.offer.gpu_count, quote.deposit) == (3, 6_000_000)
    assert quote.instance is not None and quote.instance.cpu_millis == 3 * 16_000
    async with uow() as tx:
        held = await tx.gpus.hold(quad.listing_id, quote.rental_id, 3, clock.now() + 900)
        await tx.commit()
    assert held == list(quad.gpu_uuids[:3])  # lowest indexes first
    assert await free_gpus(uow, quad.listing_id) == (1, 1)
    with pytest.raises(NoOffer) as short:
        await market.quote(ann, ListingQuery(model="h100", gpu_count=2), HOUR)
    assert short.value.key == "market.not_enough_gpus"
    with pytest.raises(ValidationError) as too_many:
        await market.quote(ann, ListingQuery(listing_id=quad.listing_id, gpu_count=5), HOUR)
    assert too_many.value.key == "market.listing_gpus"
    assert len(await _rentals(uow)) == 1  # a refused quote leaves no rental


async def test_instances_templates_images_and_machine_specs(uow, clock, market):
    plain = await host(uow, clock, "plain", price=300_000, instances=False)
    custom = await host(uow, clock, "custom", price=500_000, registries=["ghcr.io"])
    bare = await host(uow, clock, "bare", price=200_000, specs=False)
    ann = await _renter(uow, clock)
    # a machine without instances or without specs is never rented out
    plain_query = ListingQuery(model="rtx4090")
    assert (await market.quote(ann, plain_query, HOUR)).offer.listing_id == custom.listing_id
    assert (await market.search(ann, plain_query)).total_available == 1
    with pytest.raises(NoOffer) as filters:
        await market.quote(ann, ListingQuery(listing_id=plain.listing_id), HOUR)
    assert filters.value.key == "market.listing_filters"
    with pytest.raises(NotFound):
        await market.quote(ann, ListingQuery(listing_id=bare.listing_id), HOUR)
    ram = await market.search(ann, ListingQuery(min_ram_gb=32))
    assert [o.listing_id for o in ram.offers] == [custom.listing_id]
    assert (await market.search(ann, ListingQuery(min_ram_gb=65))).offers == ()
    image = parse_image("ghcr.io/acme/train:1")
    quote = await market.quote(ann, ListingQuery(instance=InstanceAsk(image=image)), HOUR)
    assert quote.offer.listing_id == custom.listing_id
    assert quote.instance.image == "ghcr.io/acme/train:1" and quote.instance.template is None
    torch = await market.quote(ann, ListingQuery(instance=InstanceAsk(template="pytorch")), HOUR)
    assert torch.offer.listing_id == custom.listing_id and torch.instance.jupyter
    with pytest.raises(ValidationError) as unknown:
        await market.quote(ann, ListingQuery(instance=InstanceAsk(template="tensorflow")), HOUR)
    assert unknown.value.key == "market.unknown_template"
    quay = InstanceAsk(image=parse_image("quay.io/acme/train:1"))
    with pytest.raises(NoOffer) as registry:
        await market.quote(ann, ListingQuery(instance=quay), HOUR)
    assert registry.value.key == "market.no_registry"
    with pytest.raises(NoOffer) as disk:
        await market.quote(ann, ListingQuery(instance=InstanceAsk(disk_gb=600)), HOUR)
    assert disk.value.key == "market.no_disk"
    assert await market.search(ann, ListingQuery(instance=InstanceAsk(ports=(80,) * 5)))
    with pytest.raises(ValidationError) as no_instances:
        await market.quote(ann, ListingQuery(listing_id=plain.listing_id, instance=quay), HOUR)
    assert no_instances.value.key == "market.listing_no_instances"


async def test_a_quote_stores_its_rental_whole_and_ids_follow_each_other(uow, clock, market):
    """The quote's rental is written by one INSERT of its values (``Rentals.insert``): read
    back, every field is what the quote said, the instance plan included."""
    one = await host(uow, clock, "one", price=400_000)
    ann = await _renter(uow, clock)
    torch = ListingQuery(model="rtx4090", instance=InstanceAsk(template="pytorch"))
    first = await market.quote(ann, torch, HOUR)
    second = await market.quote(ann, ListingQuery(model="rtx4090"), 2 * HOUR)
    assert second.rental_id == first.rental_id + 1
    async with uow(readonly=True) as tx:
        r = await tx.rentals.get(first.rental_id)
    assert r is not None
    assert (r.renter_id, r.listing_id, r.machine_id, r.gpu_model, r.gpu_count) == (
        ann.user_id,
        one.listing_id,
        one.machine_id,
        "rtx4090",
        1,
    )
    assert (r.state, r.duration_s, r.deposit, r.price_per_hour) == (
        S.QUOTED,
        HOUR,
        400_000,
        400_000,
    )
    assert (r.created_at, r.quote_expires_at) == (clock.now(), first.expires_at)
    assert r.instance is not None and r.instance["template"] == "pytorch"
    assert r.instance["image"] == first.instance.image and r.gpu_uuids == []


async def test_a_quote_below_the_escrow_minimums_changes_nothing(uow, clock, market, escrow):
    await host(uow, clock, "prov", price=400_000)
    ann = await _renter(uow, clock)
    with pytest.raises(ValidationError) as small:
        await market.quote(ann, ListingQuery(model="rtx4090"), 600)  # 0.066667 USDC
    assert small.value.key == "market.min_deposit"
    escrow.set_minimums(100_000, 2 * HOUR)
    with pytest.raises(ValidationError) as short:
        await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert short.value.key == "market.min_prepaid"
    assert await _rentals(uow) == []
    with pytest.raises(NotFound):
        await market.quote(ann, ListingQuery(listing_id=999), 2 * HOUR)
    assert (await market.quote(ann, ListingQuery(model="rtx4090"), 2 * HOUR)).deposit == 800_000


async def test_cheaper_replaces_a_quote_by_a_cheaper_listing(uow, clock, market):
    dear = await host(uow, clock, "dear", price=900_000, reliability_bps=10_000)
    cheap = await host(uow, clock, "cheap", price=450_000, reliability_bps=3_000)
    ann, bob = await _renter(uow, clock, "ann"), await _renter(uow, clock, "bob")
    quote = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert quote.offer.listing_id == dear.listing_id  # best by reliability
    with pytest.raises(NotFound):
        await market.cheaper(bob, quote.rental_id)
    better = await market.cheaper(ann, quote.rental_id)
    assert better.offer.listing_id == cheap.listing_id
    async with uow(readonly=True) as tx:
        old = await tx.rentals.get(quote.rental_id)
    assert (old.state, old.cancel_reason) == (S.CANCELLED, "replaced by a cheaper quote")
    with pytest.raises(NoOffer):
        await market.cheaper(ann, better.rental_id)  # nothing costs less than the cheapest
    async with uow(readonly=True) as tx:
        assert (await tx.rentals.get(better.rental_id)).state == S.QUOTED


async def test_templates_of_offered_listings_by_name(uow, clock, market):
    a = await host(uow, clock, "a", price=300_000)
    b = await host(
        uow, clock, "b", model="h100", price=900_000, templates=[("base", "x/y:1", False)]
    )
    await host(uow, clock, "c", instances=False)
    ann = await _renter(uow, clock)
    view = await market.templates(ann)
    assert [(t.name, t.listing_ids) for t in view.templates] == [
        ("base", (a.listing_id, b.listing_id)),
        ("pytorch", (a.listing_id,)),
    ]
    only = await market.templates(ann, model="h100")
    assert [(t.name, t.listing_ids) for t in only.templates] == [("base", (b.listing_id,))]
    async with uow() as tx:
        await tx.listings.set_status_for_machine(a.machine_id, ["available"], "paused")
        await tx.commit()
    assert [t.name for t in (await market.templates(ann)).templates] == ["base"]
    assert (await market.search(ann, ListingQuery(model="rtx4090"))).offers == ()


async def test_a_request_answered_for_the_first_time_looks_for_no_earlier_quote(
    uow, clock, market, monkeypatch
):
    """A claim that was new (``answering(first=True)``) cannot have an earlier handling: the
    quote does not read for one. A request that may repeat still does."""
    await host(uow, clock, "one", price=400_000)
    ann = await _renter(uow, clock, "ann")
    async with uow(readonly=True) as tx:
        rentals = type(tx.rentals)
    looked: list[str] = []
    by_request = rentals.by_request

    async def spy(self, user_id: int, key: str):  # noqa: ANN001, ANN202
        looked.append(key)
        return await by_request(self, user_id, key)

    monkeypatch.setattr(rentals, "by_request", spy)
    with answering("terminal:8", first=True):
        first = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert looked == []
    with answering("terminal:8"):  # the same request, perhaps handled before
        again = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert looked == ["terminal:8"] and again.rental_id == first.rental_id


async def test_a_request_handled_again_gets_the_same_quote_while_it_is_open(uow, clock, market):
    await host(uow, clock, "one", price=400_000)
    ann, bob = await _renter(uow, clock, "ann"), await _renter(uow, clock, "bob")
    with answering("terminal:7"):
        first = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
        again = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
        theirs = await market.quote(bob, ListingQuery(model="rtx4090"), HOUR)  # a key per renter
    assert again.rental_id == first.rental_id != theirs.rental_id
    assert len(await _rentals(uow)) == 2
    clock.advance(MarketRules().quote_ttl_s + 1)
    with answering("terminal:7"):  # the quote lapsed: a fresh one, without the spent key
        fresh = await market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert fresh.rental_id not in (first.rental_id, theirs.rental_id)
    async with uow(readonly=True) as tx:
        assert (await tx.rentals.by_request(ann.user_id, "terminal:7")).id == first.rental_id
        assert (await tx.rentals.get(fresh.rental_id)).request_key is None
