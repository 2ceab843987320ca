"""Disputes decided from the evidence: an agent outage is refunded, no evidence pays the bill."""

from __future__ import annotations

from core.domain.billing import billed, platform_fee
from core.domain.listings import ListingQuery
from core.domain.reliability import HEARTBEAT_COVERAGE, HEARTBEAT_INTERVAL
from core.domain.rentals import RentalState
from core.services.arbiter import evidence_hash
from tests.support import add_provider, heartbeat, renter

PRICE = 650_000  # $0.65/h


async def _rental(app, rental_id):
    async with app.rentals.uow(readonly=True) as uow:
        return await uow.rentals.get(rental_id)


async def _active_rental(app, clock):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    assert (await _rental(app, quote.rental_id)).state == RentalState.ACTIVE
    return alice, machine_id, quote.rental_id


async def _dispute(app, alice, reason="GPU vanished for ten minutes"):
    await app.rentals.dispute(alice, None, reason)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()


async def test_an_agent_outage_is_refunded_to_the_renter(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    for seq in range(2, 18):  # 4 minutes of regular beats
        clock.advance(HEARTBEAT_INTERVAL)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq))
    clock.advance(600)  # the machine goes silent for ten minutes
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], 18))
    clock.advance(300)
    await _dispute(app, alice)
    r = await _rental(app, rental_id)
    assert r.state == RentalState.DISPUTED
    used = r.ended_at - r.started_at
    assert used == 4 * 60 + 600 + 300

    clock.advance(app.lifecycle.rules.arbiter_delay_s - 1)  # the evidence settles first
    assert (await app.lifecycle.tick())["decided"] == 0
    clock.advance(1)
    assert (await app.lifecycle.tick())["decided"] == 1

    r = await _rental(app, rental_id)
    assert r.state == RentalState.RESOLVED
    down = 600 - HEARTBEAT_COVERAGE  # silence beyond one heartbeat coverage
    gross = billed(used - down, PRICE)
    assert gross < billed(used, PRICE)
    fee = platform_fee(gross, app.escrow.fee_bps)
    assert (r.provider_net, r.fee, r.refund) == (gross - fee, fee, r.deposit - gross)
    assert r.dispute_outcome == "renter"
    told = {k: payload for k, payload, _ in await app.notifications.history(alice.user_id)}
    assert told["dispute_decided"] == {
        "rental_id": rental_id,
        "billed": billed(used, PRICE),
        "provider_gross": gross,
        "renter_credit": billed(used, PRICE) - gross,
    }
    # the keeper never decides twice, and finalize has nothing left to do
    clock.advance(app.escrow.arbiter_timeout)
    assert (await app.lifecycle.tick())["decided"] == 0
    assert (await app.lifecycle.tick())["finalized"] == 0


async def test_without_outage_evidence_the_provider_gets_the_time_based_bill(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    for seq in range(2, 12):
        clock.advance(HEARTBEAT_COVERAGE)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq))
    await _dispute(app, alice, "it felt slow")
    clock.advance(app.lifecycle.rules.arbiter_delay_s)
    assert (await app.lifecycle.tick())["decided"] == 1
    r = await _rental(app, rental_id)
    gross = billed(r.ended_at - r.started_at, PRICE)
    assert r.provider_net + r.fee == gross and r.dispute_outcome == "provider"


async def test_the_dispute_commits_to_a_hash_of_the_evidence_and_the_reason(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    clock.advance(120)
    await _dispute(app, alice, "no GPU in nvidia-smi")
    async with app.rentals.uow(readonly=True) as uow:
        from core.services.arbiter import evidence_of

        records = await evidence_of(uow, rental_id)
    expected = evidence_hash(records, "no GPU in nvidia-smi")
    opened = [e for e in app.escrow.events if e.name == "DisputeOpened"]
    assert [e.args["evidenceHash"] for e in opened] == [expected]
    assert evidence_hash(records, "something else") != expected


async def test_when_the_arbiter_cannot_act_finalize_applies_the_bill(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    app.escrow.arbiter_available = False
    clock.advance(900)
    await _dispute(app, alice)
    clock.advance(app.lifecycle.rules.arbiter_delay_s)
    assert (await app.lifecycle.tick())["decided"] == 0
    assert (await _rental(app, rental_id)).state == RentalState.DISPUTED
    clock.advance(app.escrow.arbiter_timeout)
    assert (await app.lifecycle.tick())["finalized"] == 1
    assert (await _rental(app, rental_id)).state == RentalState.RESOLVED
