"""GPU samples for the /status chart (one per machine and minute, pruned), and the
notifications added for the chat front ends (rental ended, agent offline) on both databases."""

from __future__ import annotations

from core.notifications.rentals import PaymentSeen
from core.services.agents import SAMPLES_KEPT_S
from core.services.base import enqueue
from core.services.views import Principal
from tests.support import add_provider, heartbeat


async def samples(app, machine_id: int) -> list[tuple[int, list[list[int]]]]:
    async with app.agents.uow(readonly=True) as uow:
        return await uow.gpu_samples.since(machine_id, 0)


async def test_one_sample_per_minute_from_both_heartbeat_paths(app, clock):
    _, machine = await add_provider(app, "hal", ["rtx4090", "rtx4090"], 350_000)
    first = await samples(app, machine)
    assert len(first) == 1 and first[0][1] == [[3, 40], [3, 40]]  # [util %, temp °C] per GPU
    token_hash = await _token_hash(app, machine)
    for _ in range(8):  # every 15 s for two minutes, through the batched fast path
        clock.advance(15)
        (ack,) = await app.agents.heartbeat_many([(token_hash, heartbeat(["rtx4090"] * 2))])
        assert ack.machine_id == machine
    rows = await samples(app, machine)
    minutes = [m for m, _ in rows]
    assert minutes == sorted(set(minutes)) and all(m % 60 == 0 for m in minutes)
    assert len(rows) == len({(clock.now() - 15 * i) // 60 for i in range(9)})


async def test_samples_are_pruned_after_a_few_hours(app, clock):
    _, machine = await add_provider(app, "hal", ["rtx4090"], 350_000)
    clock.advance(SAMPLES_KEPT_S + 120)
    await app.agents.heartbeat(machine, heartbeat(["rtx4090"]))
    assert len(await samples(app, machine)) == 2
    assert await app.agents.prune_samples() == 1
    assert len(await samples(app, machine)) == 1


async def test_status_carries_the_rentals_last_hour(app, clock):
    who, machine = await add_provider(app, "hal", ["rtx4090"], 350_000)
    async with app.rentals.uow() as uow:  # the rental as the lifecycle leaves it, active
        from core.domain.model import Rental

        rental = Rental(
            renter_id=who.user_id,
            listing_id=1,
            provider_id=1,
            machine_id=machine,
            gpu_model="rtx4090",
            gpu_count=1,
            price_per_hour=350_000,
            duration_s=7200,
            deposit=700_000,
            fee_bps=1200,
            created_at=clock.now(),
            quote_expires_at=clock.now() + 60,
            state="active",
            started_at=clock.now(),
            paid_until=clock.now() + 7200,
        )
        uow.rentals.add(rental)
        await uow.commit()
    for _ in range(90):
        clock.advance(60)
        await app.agents.heartbeat(machine, heartbeat(["rtx4090"]))
    view = await app.rentals.status(Principal(who.user_id, "terminal"), str(rental.id))
    assert 60 <= len(view.history) <= 61  # the last hour only
    minute, gpus = view.history[-1]
    assert minute <= clock.now() and gpus == ((3, 40),)


async def test_agent_offline_tells_the_provider_once(app, clock):
    who, machine = await add_provider(app, "hal", ["rtx4090"], 350_000)
    clock.advance(300)
    assert await app.agents.mark_silent_offline() == 1
    assert await app.agents.mark_silent_offline() == 0
    kinds = [(k, p) for k, p, _ in await app.notifications.history(who.user_id)]
    offline = [p for k, p in kinds if k == "provider_agent_offline"]
    assert offline == [{"machine": "hal-box", "last_seen": clock.now() - 300}]


async def test_claims_are_exclusive_until_released_or_expired(app, clock):
    who = await app.users.identify("telegram", "1001", "alice", chat_id="1001")
    await app.users.identify("discord", "7", "bob", chat_id="7")
    async with app.notifications.uow() as uow:
        for i in range(3):
            await enqueue(
                uow,
                PaymentSeen(rental_id=i, deposit=1, tx="0x"),
                user_id=who.user_id,
                dedupe_key=f"t:{i}",
                now=clock.now(),
            )
        await uow.commit()
    first = await app.notifications.claim("telegram", limit=2, lease_s=30)
    assert [m.payload["rental_id"] for m in first] == [0, 1]
    assert first[0].chat_id == "1001" and first[0].platform == "telegram"
    rest = await app.notifications.claim("telegram", lease_s=30)
    assert [m.payload["rental_id"] for m in rest] == [2]
    assert await app.notifications.claim("telegram") == []
    assert await app.notifications.claim("discord") == []  # other platforms' users only
    await app.notifications.release([first[1].outbox_id])
    retaken = await app.notifications.claim("telegram", lease_s=30)
    assert [m.outbox_id for m in retaken] == [first[1].outbox_id]
    clock.advance(31)  # a sender that died: its lease ends
    again = await app.notifications.claim("telegram", lease_s=30)
    assert sorted(m.payload["rental_id"] for m in again) == [0, 1, 2]
    await app.notifications.mark_sent(again[0].outbox_id)
    clock.advance(31)
    assert len(await app.notifications.claim("telegram")) == 2


async def _token_hash(app, machine_id: int) -> str:
    async with app.agents.uow(readonly=True) as uow:
        return (await uow.machines.get(machine_id)).agent_token_hash
