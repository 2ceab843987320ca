"""The service assigns GPUs and instances: machines report specs and offers, /gpus filters on
the share one GPU gets, quotes are for N GPUs of a listing with an instance the machine
offers, several renters share one host, and holds and ends release exactly their GPUs.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from core.domain.instances import InstanceAsk, parse_image
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from core.errors import CoreError, NoOffer, ValidationError
from core.wire import InstanceOffer, MachineSpecs, TemplateInfo
from rigshare_dev.hosts import simulated_offer, simulated_specs
from tests.support import (
    add_provider,
    gpu_holders,
    heartbeat,
    register_provider,
    rental_row,
    renter,
)


async def add_host(app, name, gpus, price, *, offer=None, specs=None, cuda="12.4"):
    """A provider whose agent reports ``gpus`` with these specs and this offer."""
    who = await app.users.identify("terminal", name, name)
    await register_provider(app, who)
    view = await app.providers.add_machine(who, f"{name}-box", "eu")
    hb = heartbeat(gpus).model_copy(
        update={
            "machine": specs or simulated_specs(len(gpus)),
            "offer": offer or simulated_offer(),
            "cuda_version": cuda,
        }
    )
    await app.agents.heartbeat(view.machine_id, hb)
    await app.providers.set_price(who, f"{name}-box", price, None)
    return who, view.machine_id


async def _rentals(app) -> int:
    async with app.rentals.uow(readonly=True) as uow:
        return len(await uow.rentals.in_states(list(S)))


async def _approve(app, who) -> None:
    """The user approves their newest request in their wallet."""
    mine = [r for r, (user_id, _) in app.wallet.pending.items() if user_id == who.user_id]
    await app.wallet.approve(mine[-1])
    await app.settle()


async def _confirm(app, who, query, duration=3600):
    quote = await app.market.quote(who, query, duration)
    await app.rentals.confirm(who, quote.rental_id)
    return quote


async def test_heartbeat_specs_gpus_and_templates_are_stored(app):
    specs = MachineSpecs(
        cpu_model="AMD EPYC 7763 64-Core Processor",
        cpu_cores=128,
        ram_mib=1024 * 1024,
        disk_free_gib=8000,
        net_down_mbps=9400,
        net_up_mbps=4700,
    )
    _, machine_id = await add_host(app, "big", ["h100"] * 8, 2_000_000, specs=specs)
    async with app.rentals.uow(readonly=True) as uow:
        m = await uow.machines.get(machine_id)
        gpus = await uow.gpus.for_machine(machine_id)
        templates = await uow.templates.for_machine(machine_id)
        [listing] = await uow.listings.for_machine(machine_id)
    assert (m.cpu_cores, m.ram_mib, m.disk_free_gib, m.cuda_number) == (
        128,
        1024 * 1024,
        8000,
        1204,
    )
    assert (m.share_cpu_millis, m.share_ram_mib, m.share_disk_gib) == (16_000, 131_072, 1000)
    assert m.backend == "simulated" and m.default_template == "base" and m.max_ports == 4
    assert m.registries.split() == ["docker.io", "ghcr.io"]
    assert [(g.uuid, g.idx, g.pcie_gen, g.pcie_width) for g in gpus][:2] == [
        ("GPU-0000-h100", 0, 4, 16),
        ("GPU-0001-h100", 1, 4, 16),
    ]
    assert {t.name: t.image for t in templates}["pytorch"] == (
        "docker.io/pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"
    )
    assert (listing.gpu_count, listing.free_gpus, listing.pcie_gen) == (8, 8, 4)

    who = await renter(app)
    [offer] = (await app.market.search(who, ListingQuery(model="h100"))).offers
    assert offer.listing_id == listing.id and offer.free_gpus == 8
    assert offer.specs.cpu_model.startswith("AMD EPYC") and offer.specs.net_down_mbps == 9400
    assert offer.specs.share_cpu_millis == 16_000


async def test_gpus_filters_on_the_share_one_gpu_gets_and_on_cuda(app):
    # 8 GPUs on 64 cores/512 GB/2 TB: 8 cores, 64 GB, 250 GB each; 1 GPU on 16/64 GB/500 GB
    share8 = MachineSpecs(cpu_cores=64, ram_mib=512 * 1024, disk_free_gib=2000)
    await add_host(app, "eight", ["rtx4090"] * 8, 400_000, specs=share8, cuda="12.2")
    await add_host(app, "one", ["rtx4090"], 500_000)
    who = await renter(app)

    async def hosts(**filters):
        page = await app.market.search(who, ListingQuery(model="rtx4090", **filters))
        return [o.gpu_count for o in page.offers]

    assert await hosts() == [8, 1]
    assert await hosts(min_ram_gb=64) == [8, 1]
    assert await hosts(min_ram_gb=65) == []
    assert await hosts(min_disk_gb=251) == [1]
    assert await hosts(min_cpu_cores=9) == [1]
    assert await hosts(min_cuda=1204) == [1]
    assert await hosts(min_cuda=1202) == [8, 1]


async def test_several_renters_rent_different_gpus_of_one_host(app):
    _, machine_id = await add_host(app, "eight", ["h100"] * 8, 2_000_000)
    renters = [await renter(app, f"r{i}") for i in range(4)]
    quotes = []
    for who, n in zip(renters, (2, 4, 2), strict=False):
        quotes.append(await _confirm(app, who, ListingQuery(model="h100", gpu_count=n)))
    with pytest.raises(NoOffer):  # all eight are held
        await app.market.quote(renters[3], ListingQuery(model="h100"), 3600)
    held = [(await rental_row(app, q.rental_id)).gpu_uuids for q in quotes]
    assert [len(h) for h in held] == [2, 4, 2]
    assert sorted(sum(held, [])) == [f"GPU-{i:04d}-h100" for i in range(8)]  # each GPU once
    # each rental pays for its own GPUs and runs the share of them: 2 of 8 is a quarter
    assert [q.offer.gpu_count for q in quotes] == [2, 4, 2]
    assert [(await rental_row(app, q.rental_id)).price_per_hour for q in quotes] == [
        4_000_000,
        8_000_000,
        4_000_000,
    ]
    assert quotes[0].instance.cpu_millis == 128_000 // 4  # 8 GPUs of simulated specs: 128 cores

    for who in renters[:3]:  # pay: the agent gets one grant per rental, with its GPUs
        await _approve(app, who)
    for q, gpus in zip(quotes, held, strict=True):
        grant = app.agent_gateway.granted[q.rental_id]
        assert grant.instance.gpu_uuids == gpus
        assert grant.instance.limits.memory_mib == 65_536 * 8 * len(gpus) // 8
        assert (await rental_row(app, q.rental_id)).state == S.ACTIVE

    # /status shows only the rented GPUs
    view = await app.rentals.status(renters[1], None)
    assert list(view.gpu_uuids) == held[1]
    assert [g["id"] for g in view.metrics["gpus"]] == held[1]
    assert view.instance.image == "docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04"


async def test_hold_expiry_and_the_end_release_exactly_their_gpus(app, clock):
    await add_host(app, "four", ["h100"] * 4, 2_000_000)
    a, b = await renter(app, "a"), await renter(app, "b")
    qa = await _confirm(app, a, ListingQuery(model="h100", gpu_count=1))
    qb = await _confirm(app, b, ListingQuery(model="h100", gpu_count=2))
    await _approve(app, b)
    listing = qa.offer.listing_id
    assert await gpu_holders(app, listing) == [qa.rental_id, qb.rental_id, qb.rental_id, None]

    clock.advance(app.market.rules.payment_hold_s + 1)  # a never paid: the keeper ends its hold
    await app.keeper.tick()
    assert (await rental_row(app, qa.rental_id)).state == S.CANCELLED
    assert await gpu_holders(app, listing) == [None, qb.rental_id, qb.rental_id, None]

    await app.rentals.stop(b, None)
    await _approve(app, b)
    assert (await rental_row(app, qb.rental_id)).state == S.SETTLED
    assert await gpu_holders(app, listing) == [None, None, None, None]
    page = await app.market.search(a, ListingQuery(model="h100"))
    assert [o.free_gpus for o in page.offers] == [4]


async def test_quotes_match_only_machines_that_offer_what_was_asked(app):
    only_templates = InstanceOffer(
        backend="container",
        templates=[TemplateInfo(name="base", image="ubuntu:22.04", title="Ubuntu")],
        max_ports=0,
    )
    small = MachineSpecs(cpu_cores=16, ram_mib=65_536, disk_free_gib=100)
    await add_host(app, "cheap", ["rtx4090"], 300_000, offer=only_templates, specs=small)
    await add_host(app, "dear", ["rtx4090"], 500_000)  # simulated: 3 templates, ghcr.io
    who = await renter(app)

    async def quoted(ask: InstanceAsk, n: int = 1) -> int:
        q = await app.market.quote(
            who, ListingQuery(model="rtx4090", gpu_count=n, instance=ask), 3600
        )
        return q.offer.price_per_hour

    assert await quoted(InstanceAsk()) == 300_000
    assert await quoted(InstanceAsk(template="base")) == 300_000
    assert await quoted(InstanceAsk(template="jupyter")) == 500_000
    assert await quoted(InstanceAsk(image=parse_image("ghcr.io/me/train:v2"))) == 500_000
    # the cheap host's own template image counts as offered, even without custom images
    assert await quoted(InstanceAsk(image=parse_image("docker.io/library/ubuntu:22.04"))) == 300_000
    assert await quoted(InstanceAsk(ports=(8080,))) == 500_000
    assert await quoted(InstanceAsk(disk_gb=500)) == 500_000  # the share: 500 GB of 1 GPU
    quote = await app.market.quote(
        who, ListingQuery(model="rtx4090", instance=InstanceAsk(template="jupyter")), 3600
    )
    assert quote.instance.jupyter and quote.instance.template == "jupyter"
    assert quote.instance.image == "quay.io/jupyter/pytorch-notebook:cuda12-python-3.11"


@pytest.mark.parametrize(
    ("query", "error", "text"),
    [
        (ListingQuery(model="rtx4090", instance=InstanceAsk(template="nope")), ValidationError,
         "No provider offers the template 'nope'"),
        (ListingQuery(model="rtx4090", instance=InstanceAsk(image=parse_image("quay.io/x/y:1"))),
         NoOffer, "runs your own images from quay.io"),
        (ListingQuery(model="rtx4090", instance=InstanceAsk(ports=(1, 2, 3, 4, 5))), NoOffer,
         "publishes 5 ports"),
        (ListingQuery(model="rtx4090", instance=InstanceAsk(disk_gb=501)), NoOffer,
         "gives 501 GB of disk"),
        (ListingQuery(model="rtx4090", gpu_count=3), NoOffer, "No machine has 3 RTX 4090"),
        (ListingQuery(listing_id=1, gpu_count=3), ValidationError,
         "Listing #1 has 2 GPU(s); you asked for 3."),
        (ListingQuery(listing_id=1, model="h100"), ValidationError,
         "Listing #1 has RTX 4090 GPUs, not H100 80GB."),
        (ListingQuery(listing_id=1, instance=InstanceAsk(template="nope")), ValidationError,
         "Listing #1 does not offer the template 'nope'"),
        (ListingQuery(listing_id=1, instance=InstanceAsk(image=parse_image("quay.io/x/y:1"))),
         ValidationError, "does not run images from quay.io; it takes docker.io ghcr.io"),
        (ListingQuery(listing_id=1, gpu_count=2, instance=InstanceAsk(disk_gb=1001)),
         ValidationError, "gives 1000 GB of disk with 2 GPU(s), not 1001"),
        (ListingQuery(listing_id=77), CoreError, "Listing #77 is not on the market now."),
    ],
)  # fmt: skip
async def test_bad_instance_input_is_refused_before_anything_is_held(app, query, error, text):
    await add_host(app, "two", ["rtx4090"] * 2, 400_000)
    who = await renter(app)
    before = await _rentals(app)
    with pytest.raises(error) as refused:
        await app.market.quote(who, query, 3600)
    assert text in refused.value.user_message
    assert await _rentals(app) == before  # not even a quote
    assert await gpu_holders(app, 1) == [None, None]


async def test_an_extension_grant_carries_the_same_instance_with_the_later_deadline(app):
    await add_host(app, "one", ["rtx4090"], 400_000)
    who = await renter(app)
    ask = InstanceAsk(template="jupyter", ports=(8888 + 1,))
    quote = await _confirm(app, who, ListingQuery(model="rtx4090", instance=ask))
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    first = app.agent_gateway.granted[quote.rental_id]
    await app.rentals.extend(who, None, 3600)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    second = app.agent_gateway.granted[quote.rental_id]
    assert second.instance == first.instance and second.instance.ports == [8889]
    assert second.expires_at > first.expires_at
    r = await rental_row(app, quote.rental_id)
    assert r.jupyter_port == 8888 and len(r.jupyter_token) >= 16
    assert r.access_ports[0][0] == 8889


async def test_a_machine_whose_agent_offers_no_instances_is_never_rented(app):
    """A rental is always an instance: an agent from before instances (host accounts, which
    renters could escape) reports its GPUs, but its listings are never shown or quoted."""
    who = await app.users.identify("terminal", "old", "old")
    await register_provider(app, who)
    view = await app.providers.add_machine(who, "old-box", "eu")
    await app.agents.heartbeat(view.machine_id, heartbeat(["rtx4090"], instances=False))
    await app.providers.set_price(who, "old-box", 400_000, None)
    alice = await renter(app)
    with pytest.raises(NoOffer):
        await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    page = await app.market.search(alice, ListingQuery(model="rtx4090"))
    assert not page.offers and page.total_available == 0


async def test_live_rentals_from_before_gpu_holds_are_given_their_gpus(app):
    """A rental whose listing was held as a whole (before this migration) holds no GPU by
    UUID: the machine's next inventory report gives it the GPUs it pays for."""
    _, machine_id = await add_provider(app, "two", ["rtx4090"] * 2, 400_000)
    who = await renter(app)
    quote = await _confirm(app, who, ListingQuery(model="rtx4090", gpu_count=2))
    async with app.rentals.uow() as uow:  # as the migration leaves it: no GPUs by UUID
        rental = await uow.rentals.get(quote.rental_id)
        rental.gpu_uuids = []
        await uow.gpus.release(rental.id, rental.listing_id)
        await uow.commit()
    assert await gpu_holders(app, quote.offer.listing_id) == [None, None]
    hb = heartbeat(["rtx4090"] * 2)
    hb = hb.model_copy(update={"gpus": [g.model_copy(update={"pcie_gen": 3}) for g in hb.gpus]})
    await app.agents.heartbeat(machine_id, hb)
    assert await gpu_holders(app, quote.offer.listing_id) == [quote.rental_id] * 2
    assert (await rental_row(app, quote.rental_id)).gpu_uuids == [
        "GPU-0000-rtx4090",
        "GPU-0001-rtx4090",
    ]
