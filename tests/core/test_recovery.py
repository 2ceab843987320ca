"""The keeper repairs what a process left undone when it died between a commit and the call
after it (``core.services.recovery``): a grant never queued, a grant result never applied, a
start never sent, a revoke never queued, a signed payment or stop never relayed. Each test lets the first process "die" at that point
(the follow-up call does nothing), then runs the keeper as the next leader would.

Runs on SQLite and PostgreSQL with the production agent gateway (commands in the database).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bot.bootstrap import App
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from core.services.recovery import GRACE_S, REVOKE_WINDOW_S
from core.wire import AccessDetails, CommandResult, ResultBatch
from tests.bot.agent_support import add_host, fund_rental
from tests.support import rental_row, renter, started_app

ACCESS = AccessDetails(
    username="rs-1", host="127.0.0.1", port=2222, host_key_fingerprint="SHA256:" + "A" * 43
)


@pytest.fixture
async def app(settings, clock):
    async with started_app(settings, clock, agents="http") as application:
        yield application


async def _commands(app: App, rental_id: int) -> list[tuple[str, bool]]:
    async with app.rentals.uow(readonly=True) as uow:
        rows = await uow.agent_commands.for_rental(rental_id)
    return [(c.kind, c.done_at is not None) for c in rows]


async def _answer_grants(app: App, machine_id: int) -> int:
    """The agent runs what it is handed and reports success; returns how many it ran."""
    batch = await app.agent_commands.pending(machine_id, 0)
    results = [
        CommandResult(command_id=c.id, ok=True, access=ACCESS)
        for c in batch.commands
        if c.kind == "grant"
    ]
    await app.agent_commands.record_results(machine_id, ResultBatch(results=results))
    await app.settle()
    return len(results)


async def _died(*_args: object) -> None:
    """The process was killed here: the call after the commit never happened."""


async def _outbox_kinds(app: App, user_id: int) -> Counter:
    return Counter(kind for kind, _, _ in await app.notifications.history(user_id))


async def test_a_grant_never_queued_is_queued_after_the_grace(app, clock, monkeypatch):
    host = await add_host(app)
    monkeypatch.setattr(app.agent_gateway, "grant", _died)
    rental_id = await fund_rental(app)
    monkeypatch.undo()  # the next process
    assert (await rental_row(app, rental_id)).state == S.PROVISIONING
    assert await _commands(app, rental_id) == []
    counts = await app.keeper.tick()
    assert counts["regranted"] == 0  # a live process may be about to grant: leave it
    clock.advance(GRACE_S)
    assert (await app.keeper.tick())["regranted"] == 1
    assert await _commands(app, rental_id) == [("grant", False)]
    assert await _answer_grants(app, host.machine_id) == 1
    r = await rental_row(app, rental_id)
    assert r.state == S.ACTIVE and r.access_username == "rs-1"
    assert (await app.keeper.tick())["regranted"] == 0
    assert await _commands(app, rental_id) == [("grant", True)]
    assert (await _outbox_kinds(app, r.renter_id))["credentials"] == 1


async def test_a_stored_grant_result_is_applied_to_the_rental(app, clock, monkeypatch):
    host = await add_host(app)
    rental_id = await fund_rental(app)
    monkeypatch.setattr(app.agent_commands, "events", None)  # died after storing the result
    assert await _answer_grants(app, host.machine_id) == 1
    monkeypatch.undo()
    assert (await rental_row(app, rental_id)).state == S.PROVISIONING
    assert (await app.keeper.tick())["grant_results"] == 0
    clock.advance(GRACE_S)
    assert (await app.keeper.tick())["grant_results"] == 1
    r = await rental_row(app, rental_id)
    assert r.state == S.ACTIVE and (r.access_username, r.access_port) == ("rs-1", 2222)
    assert (await app.keeper.tick())["grant_results"] == 0
    assert (await _outbox_kinds(app, r.renter_id))["credentials"] == 1


async def test_a_failed_grant_result_refunds_once_applied(app, clock, monkeypatch):
    host = await add_host(app)
    rental_id = await fund_rental(app)
    monkeypatch.setattr(app.agent_commands, "events", None)
    batch = await app.agent_commands.pending(host.machine_id, 0)
    failed = CommandResult(command_id=batch.commands[0].id, ok=False, error="useradd failed")
    await app.agent_commands.record_results(host.machine_id, ResultBatch(results=[failed]))
    monkeypatch.undo()
    clock.advance(GRACE_S)
    assert (await app.keeper.tick())["grant_results"] == 1
    await app.settle()
    r = await rental_row(app, rental_id)
    assert r.state == S.CANCELLED and r.refund == r.deposit


async def test_access_granted_but_never_started_is_started(app, clock, monkeypatch):
    host = await add_host(app)
    rental_id = await fund_rental(app)

    async def start_died(escrow_id: str) -> None:
        raise RuntimeError("killed before the start transaction was sent")

    monkeypatch.setattr(app.lifecycle.escrow, "start", start_died)
    assert await _answer_grants(app, host.machine_id) == 1
    monkeypatch.undo()
    r = await rental_row(app, rental_id)
    assert r.state == S.PROVISIONING and r.access_granted_at is not None
    assert (await app.keeper.tick())["restarted"] == 0
    clock.advance(GRACE_S)
    assert (await app.keeper.tick())["restarted"] == 1
    r = await rental_row(app, rental_id)
    assert r.state == S.ACTIVE and r.start_tx is not None
    assert (await app.keeper.tick())["restarted"] == 0
    assert (await _outbox_kinds(app, r.renter_id))["credentials"] == 1


async def _stopped_before_the_revoke_was_queued(app: App, monkeypatch) -> tuple[int, int]:
    """A running rental stopped and settled by a process that died before queueing the
    revoke; returns (machine id, rental id)."""
    host = await add_host(app)
    rental_id = await fund_rental(app)
    await _answer_grants(app, host.machine_id)
    alice = await renter(app)
    monkeypatch.setattr(app.agent_gateway, "revoke", _died)
    await app.rentals.stop(alice, None)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    monkeypatch.undo()
    return host.machine_id, rental_id


async def test_a_revoke_never_queued_is_queued_once(app, clock, monkeypatch):
    machine_id, rental_id = await _stopped_before_the_revoke_was_queued(app, monkeypatch)
    assert (await rental_row(app, rental_id)).state == S.SETTLED
    assert await _commands(app, rental_id) == [("grant", True)]
    assert (await app.keeper.tick())["revoked"] == 1
    assert await _commands(app, rental_id) == [("grant", True), ("revoke", False)]
    assert (await app.keeper.tick())["revoked"] == 0
    [cmd] = (await app.agent_commands.pending(machine_id, 0)).commands
    assert (cmd.kind, cmd.rental_id) == ("revoke", rental_id)
    assert json.loads(cmd.model_dump_json())["kind"] == "revoke"


async def test_rentals_that_ended_long_ago_are_not_swept(app, clock, monkeypatch):
    _, rental_id = await _stopped_before_the_revoke_was_queued(app, monkeypatch)
    clock.advance(REVOKE_WINDOW_S + 1)  # the key has long expired by itself
    assert (await app.keeper.tick())["revoked"] == 0
    assert await _commands(app, rental_id) == [("grant", True)]


class Died(Exception):
    """The process was killed in the middle of relaying."""


async def test_a_signed_payment_never_relayed_is_relayed_again(app, clock, monkeypatch):
    await add_host(app)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)

    async def died(*_args: object) -> None:
        raise Died

    monkeypatch.setattr(app.lifecycle.escrow, "open", died)
    with pytest.raises(Died):
        await app.wallet.approve(next(iter(app.wallet.pending)))  # signed, stored, then killed
    monkeypatch.undo()
    assert (await rental_row(app, quote.rental_id)).state == S.AWAITING_PAYMENT
    assert (await app.keeper.tick())["relayed"] == 0  # it may still be on its way
    clock.advance(app.rentals.rules.relay_retry_s)
    assert (await app.keeper.tick())["relayed"] == 1
    r = await rental_row(app, quote.rental_id)
    assert r.state == S.PROVISIONING and r.open_tx is not None
    assert (await app.keeper.tick())["relayed"] == 0


async def test_a_signed_stop_never_relayed_is_relayed_again(app, clock, monkeypatch):
    host = await add_host(app)
    rental_id = await fund_rental(app)
    await _answer_grants(app, host.machine_id)
    alice = await renter(app)
    await app.rentals.stop(alice, None)

    async def died(*_args: object) -> None:
        raise Died

    monkeypatch.setattr(app.lifecycle.escrow, "stop_and_settle", died)
    with pytest.raises(Died):
        await app.wallet.approve(next(iter(app.wallet.pending)))
    monkeypatch.undo()
    assert (await rental_row(app, rental_id)).state == S.ACTIVE
    clock.advance(app.rentals.rules.relay_retry_s)
    assert (await app.keeper.tick())["relayed"] == 1
    r = await rental_row(app, rental_id)
    assert r.state == S.SETTLED and r.provider_net + r.fee + r.refund == r.deposit
    assert (await _outbox_kinds(app, r.renter_id))["receipt"] == 1
    assert (await app.keeper.tick())["relayed"] == 0
