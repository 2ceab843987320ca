"""Providers, heartbeats (offline, mismatch, reliability) and the outbox."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as WireError

from core.domain.listings import ListingQuery, ListingStatus, MachineStatus
from core.errors import Conflict, Forbidden, NotFound, ValidationError
from core.services.providers import hash_token
from core.services.views import Principal
from core.wire import Heartbeat
from tests.support import add_provider, heartbeat, machine_listings, register_provider, renter


async def _machine(app, machine_id):
    async with app.agents.uow(readonly=True) as uow:
        return await uow.machines.get(machine_id)


async def test_token_shown_once_and_stored_hashed(app):
    who = await renter(app, "pat")
    await register_provider(app, who)
    view = await app.providers.add_machine(who, "box1", "eu")
    assert view.token.startswith("rsa_") and len(view.token) > 40
    assert (
        view.command
        == f"RIGSHARE_AGENT_TOKEN={view.token} rigshare-agent --server http://127.0.0.1:8080"
    )
    m = await _machine(app, view.machine_id)
    assert m.agent_token_hash == hash_token(view.token) != view.token
    assert await app.agents.authenticate(view.token) == view.machine_id
    with pytest.raises(Forbidden):
        await app.agents.authenticate(view.token + "x")
    with pytest.raises(Conflict):
        await app.providers.add_machine(who, "BOX1", "eu")


async def test_provider_commands_need_private_chat_and_registration(app):
    who = await renter(app, "pat")
    group = Principal(who.user_id, who.platform, private_chat=False)
    with pytest.raises(Forbidden):
        await app.providers.register(group, "0x" + "ab" * 20)
    with pytest.raises(NotFound, match="not a provider"):
        await app.providers.add_machine(who, "box1", None)
    with pytest.raises(ValidationError):
        await app.providers.register(who, "0x123")


async def test_listings_appear_from_inventory_and_are_offered_once_priced(app):
    who = await renter(app, "pat")
    await register_provider(app, who)
    view = await app.providers.add_machine(who, "box1", "eu")
    await app.agents.heartbeat(view.machine_id, heartbeat(["rtx4090", "rtx4090", "h100"]))
    listings = {x.gpu_model: x for x in await machine_listings(app, view.machine_id)}
    # the agent's NVML report is a claim: only the service's own probe verifies
    assert {k: (x.gpu_count, x.status, x.verified) for k, x in listings.items()} == {
        "rtx4090": (2, ListingStatus.PAUSED, False),
        "h100": (1, ListingStatus.PAUSED, False),
    }
    page = await app.market.search(who, ListingQuery())
    assert page.offers == ()
    await app.providers.set_price(who, "box1", 450_000, "rtx4090")
    page = await app.market.search(who, ListingQuery())
    assert [(o.gpu_model, o.gpu_count, o.price_per_hour) for o in page.offers] == [
        ("rtx4090", 2, 450_000)
    ]
    with pytest.raises(ValidationError):
        await app.providers.set_price(who, "box1", 0, None)


async def test_two_missed_heartbeats_take_machine_offline_and_back(app, clock):
    who, machine_id = await add_provider(app, "pat", ["rtx4090"], 400_000)
    clock.advance(29)
    assert await app.agents.mark_silent_offline() == 0
    clock.advance(2)
    assert await app.agents.mark_silent_offline() == 1
    assert (await _machine(app, machine_id)).status == MachineStatus.OFFLINE
    assert [x.status for x in await machine_listings(app, machine_id)] == [ListingStatus.OFFLINE]
    assert (await app.market.search(who, ListingQuery())).offers == ()
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq=2))
    assert [x.status for x in await machine_listings(app, machine_id)] == [ListingStatus.AVAILABLE]


async def test_uptime_counts_only_covered_time(app, clock):
    _, machine_id = await add_provider(app, "pat", ["rtx4090"], 400_000)
    for _ in range(4):
        clock.advance(15)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"]))
    clock.advance(600)  # an outage: only 30 s of it count as covered
    await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"]))
    assert (await _machine(app, machine_id)).covered_seconds == 4 * 15 + 30


async def test_gpu_mismatch_suspends_listing(app):
    _, machine_id = await add_provider(app, "pat", ["rtx4090"], 400_000)
    await app.agents.heartbeat(machine_id, heartbeat(["rtx3090"]))
    by_model = {x.gpu_model: x.status for x in await machine_listings(app, machine_id)}
    assert by_model == {"rtx4090": ListingStatus.SUSPENDED, "rtx3090": ListingStatus.PAUSED}


def test_wire_rejects_bad_payloads():
    good = heartbeat(["rtx4090"]).model_dump()
    with pytest.raises(WireError):
        Heartbeat.model_validate({**good, "extra": 1})
    with pytest.raises(WireError):
        Heartbeat.model_validate({**good, "gpus": good["gpus"] * 17})
    with pytest.raises(WireError):
        Heartbeat.model_validate({**good, "ssh_host": "evil host; rm -rf /"})
    bad_gpu = {**good["gpus"][0], "utilization_pct": 101}
    with pytest.raises(WireError):
        Heartbeat.model_validate({**good, "gpus": [bad_gpu]})


async def test_reliability_refresh_feeds_listings(app, clock):
    _, machine_id = await add_provider(app, "pat", ["rtx4090"], 400_000)
    assert await app.agents.refresh_reliability(machine_id) == 8000  # new host default
    clock.advance(2 * 86400)  # silent for two days: coverage ~0 %
    score = await app.agents.refresh_reliability(machine_id)
    assert score == (0 * 45 + 8000 * 20 + 10_000 * 20 + 8000 * 15) // 100
    assert (await machine_listings(app, machine_id))[0].reliability_bps == score
    assert await app.agents.refresh_all_reliability() == 1


async def _queue_private_key(
    app, clock, user_id: int, rental_id: int, key: str, copies: int = 1
) -> None:
    """Queue a rental's private key for its renter ``copies`` times in one transaction, under
    one dedupe key as the service does."""
    from core.notifications.rentals import PrivateKey
    from core.services.base import enqueue

    async with app.notifications.uow() as uow:
        for _ in range(copies):
            await enqueue(
                uow,
                PrivateKey(rental_id=rental_id, private_key=key),
                user_id=user_id,
                dedupe_key=f"key:{rental_id}",
                now=clock.now(),
            )
        await uow.commit()


async def test_outbox_dedupes_retries_with_backoff_and_scrubs_secrets(app, clock):
    alice = await renter(app, wallet=False)
    await _queue_private_key(app, clock, alice.user_id, 1, "SECRET", copies=2)
    due = await app.notifications.due()
    assert [m.kind for m in due] == ["private_key"]
    await app.notifications.mark_failed(due[0].outbox_id, "chat API 502")
    assert await app.notifications.due() == []
    clock.advance(5)
    assert len(await app.notifications.due()) == 1
    await app.notifications.mark_sent(due[0].outbox_id)
    assert await app.notifications.due() == []
    [(kind, payload, sent_at)] = await app.notifications.history(alice.user_id)
    assert payload == {"rental_id": 1, "scrubbed": True} and sent_at == clock.now()


async def test_a_dead_lettered_private_key_keeps_no_copy_of_the_key(app, clock):
    alice = await renter(app, wallet=False)
    key = "-----BEGIN OPENSSH PRIVATE KEY----- SECRET"
    await _queue_private_key(app, clock, alice.user_id, 7, key)
    [due] = await app.notifications.due()
    await app.notifications.mark_failed(due.outbox_id, "Forbidden: bot was blocked", permanent=True)
    [(kind, payload, sent_at)] = await app.notifications.history(alice.user_id)
    assert kind == "private_key" and sent_at is None
    assert payload == {"rental_id": 7, "scrubbed": True}  # support sees which, not the key
    async with app.db.write.connect() as conn:
        rows = (await conn.exec_driver_sql("select payload_json from outbox")).all()
    assert all("SECRET" not in row[0] for row in rows)
