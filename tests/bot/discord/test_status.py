"""/status is one message that keeps itself current while the rental is live."""

from __future__ import annotations

import asyncio
import contextlib

from core.domain.listings import ListingQuery
from tests.bot.discord.support import approve_all, slash, with_wallet
from tests.support import add_provider


async def active_rental(bot, app, user) -> int:
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    who = await with_wallet(bot, user)
    quote = await app.market.quote(who, ListingQuery(model="rtx4090"), 3 * 3600)
    await app.rentals.confirm(who, quote.rental_id)
    await approve_all(app)
    return quote.rental_id


async def test_status_edits_itself_until_the_rental_ends(
    bot, app, clock, server, alice, transcript, monkeypatch
):
    rental_id = await active_rental(bot, app, alice)
    watched = []
    monkeypatch.setattr(bot.front.status, "watch", watched.append)
    await slash(bot, "status", server.interaction(alice))
    (live,) = watched
    message = transcript.last()
    assert live.live and message.audience == "ephemeral"
    first = message.content

    assert await live.step() is True and live.edits == 0  # nothing changed: no edit
    clock.advance(1800)
    assert await live.step() is True and live.edits == 1
    assert message.content != first and len(transcript.messages) == 1  # the same message

    who = await with_wallet(bot, alice)
    await app.rentals.stop(who, str(rental_id))
    await approve_all(app)
    assert await live.step() is False  # settled: a last edit, then the watch stops
    assert message.content.startswith(f"Rental #{rental_id}")
    assert f"Rental #{rental_id} · settled" in message.content  # the last edit: how it ended
    assert "Ended at " in message.content
    assert transcript.seen("public") == []


async def test_the_watch_runs_by_itself_and_one_per_user(
    bot, app, clock, server, alice, transcript
):
    await active_rental(bot, app, alice)
    bot.front.status.every_s = 0.01
    await slash(bot, "status", server.interaction(alice))
    first_task = bot.front.status.tasks[(await with_wallet(bot, alice)).user_id]
    await slash(bot, "status", server.interaction(alice))  # a new /status replaces the old watch
    with contextlib.suppress(asyncio.CancelledError):
        await first_task
    assert first_task.cancelled()
    message = transcript.last()
    before = message.content
    clock.advance(600)
    for _ in range(200):
        if message.content != before:
            break
        await asyncio.sleep(0.01)
    assert message.content != before
    await bot.front.status.close()
    assert bot.front.status.tasks == {}
