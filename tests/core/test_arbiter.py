"""Disputes decided from the evidence: an agent outage is refunded, no evidence pays the bill."""

from __future__ import annotations

from core.domain.billing import billed, platform_fee
from core.domain.listings import ListingQuery
from core.domain.reliability import HEARTBEAT_COVERAGE, HEARTBEAT_INTERVAL
from core.domain.rentals import RentalState
from core.services.arbiter import evidence_hash
from tests.probing import answer_probes, probed_heartbeat, use_fake_hosts, verify
from tests.support import add_provider, paid_quote, rental_row, renter

PRICE = 650_000  # $0.65/h


def heartbeat(gpus, seq):
    return probed_heartbeat(gpus, seq)


async def _active_rental(app, clock, *, probed=True):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], PRICE)
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], 1))
    if probed:  # the service's own probe passed before the rental
        assert (await verify(app, machine_id))["judged"] == 1
    alice, quote = await paid_quote(app)
    assert (await rental_row(app, quote.rental_id)).state == RentalState.ACTIVE
    return alice, machine_id, quote.rental_id


async def _dispute(app, alice, reason="GPU vanished for ten minutes"):
    await app.rentals.dispute(alice, None, reason)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()


async def _disputed_after_full_coverage(app, clock, alice, machine_id, rental_id, reason):
    """Ten intervals of regular heartbeats, then the dispute, then the arbiter's decision:
    the rental as decided."""
    for seq in range(2, 12):
        clock.advance(HEARTBEAT_COVERAGE)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq))
    await _dispute(app, alice, reason)
    clock.advance(app.lifecycle.rules.arbiter_delay_s)
    assert (await app.keeper.tick())["decided"] == 1
    return await rental_row(app, rental_id)


async def test_an_agent_outage_is_refunded_to_the_renter(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    for seq in range(2, 18):  # 4 minutes of regular beats
        clock.advance(HEARTBEAT_INTERVAL)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq))
    clock.advance(600)  # the machine goes silent for ten minutes
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], 18))
    clock.advance(300)
    await _dispute(app, alice)
    r = await rental_row(app, rental_id)
    assert r.state == RentalState.DISPUTED
    used = r.ended_at - r.started_at
    assert used == 4 * 60 + 600 + 300

    clock.advance(app.lifecycle.rules.arbiter_delay_s - 1)  # the evidence settles first
    assert (await app.keeper.tick())["decided"] == 0
    clock.advance(1)
    assert (await app.keeper.tick())["decided"] == 1

    r = await rental_row(app, rental_id)
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
    assert (await app.keeper.tick())["decided"] == 0
    assert (await app.keeper.tick())["finalized"] == 0


async def test_without_outage_evidence_the_provider_gets_the_time_based_bill(app, clock):
    alice, machine_id, rental_id = await _active_rental(app, clock)
    r = await _disputed_after_full_coverage(
        app, clock, alice, machine_id, rental_id, "it felt slow"
    )
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
    assert (await app.keeper.tick())["decided"] == 0
    assert (await rental_row(app, rental_id)).state == RentalState.DISPUTED
    clock.advance(app.escrow.arbiter_timeout)
    assert (await app.keeper.tick())["finalized"] == 1
    assert (await rental_row(app, rental_id)).state == RentalState.RESOLVED


async def test_the_agents_self_reports_alone_cannot_win_a_dispute(app, clock):
    """No passed probe of the service backs the machine: regular heartbeats and a passed
    self-test of the agent (and even a "service_probe" record it slipped into its evidence)
    do not outweigh the renter's claim."""
    from core.domain.model import EvidenceRecord

    alice, machine_id, rental_id = await _active_rental(app, clock, probed=False)
    async with app.rentals.uow() as uow:
        for kind, data in (("selftest", {"success": True}), ("service_probe", {"passed": True})):
            uow.evidence.add(EvidenceRecord(machine_id, rental_id, kind, 1, 1, data))
        await uow.commit()
    r = await _disputed_after_full_coverage(
        app, clock, alice, machine_id, rental_id, "there was never a GPU"
    )
    assert r.dispute_outcome == "renter"
    assert r.provider_net == 0 and r.refund == r.deposit


async def test_a_probe_that_failed_during_the_rental_ends_the_providers_pay_there(app, clock):
    who, machine_id = await add_provider(app, "prov", ["rtx4090", "rtx4090"], PRICE)
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090", "rtx4090"], 1))
    hosts = use_fake_hosts(app)
    await verify(app, machine_id, hosts)
    await answer_probes(app, machine_id, hosts)  # the unprobe
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090", gpu_count=1), 3 * 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    started = (await rental_row(app, quote.rental_id)).started_at
    for seq in range(2, 6):  # a minute of regular beats
        clock.advance(HEARTBEAT_INTERVAL)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090", "rtx4090"], seq))
    # the machine moves (its verification no longer holds), is probed again on the idle
    # GPU, and that probe fails
    moved = probed_heartbeat(["rtx4090", "rtx4090"], 6, host="127.0.0.2")
    await app.agents.heartbeat(machine_id, moved)
    await verify(app, machine_id, hosts, host="127.0.0.2", shown_uuids=[])
    failed_at = clock.now()
    clock.advance(HEARTBEAT_INTERVAL)
    moved = probed_heartbeat(["rtx4090", "rtx4090"], 7, host="127.0.0.2")
    await app.agents.heartbeat(machine_id, moved)
    await _dispute(app, alice, "the GPU was gone")
    clock.advance(app.lifecycle.rules.arbiter_delay_s)
    assert (await app.keeper.tick())["decided"] == 1
    r = await rental_row(app, quote.rental_id)
    gross = billed(failed_at - started, PRICE)  # backed until the failed probe, not after
    assert r.provider_net + r.fee == gross and r.dispute_outcome == "renter"
