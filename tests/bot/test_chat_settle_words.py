"""What the chat says about quotes, ended rentals, stops and disputes is true: an expired quote
says it expired, /status of an ended rental says when it ended, /stop and /dispute say the
instance and its files are deleted, a dispute never invites another, and the dispute receipt
bills the seconds its bill pays for. Played through the terminal chat (the real dispatcher
and the notification texts), in English and German."""

from __future__ import annotations

import re

import pytest

from core.domain.billing import billed
from core.domain.reliability import HEARTBEAT_INTERVAL
from tests.bot.terminal_window import Window
from tests.probing import probed_heartbeat, verify
from tests.support import add_provider, renter

PRICE = 650_000  # $0.65/h
TEXTS = {
    "en": {
        "expired": "Quote #{id} has expired",
        "ended": "Ended at",
        "running": "Running for",
        "deleted": "files are deleted",
        "at_once": "ends at once",
        "opened": "Dispute opened for rental #{id}. The rental ended at",
        "billed": r"(\d+) s billed",
    },
    "de": {
        "expired": "Angebot #{id} ist abgelaufen",
        "ended": "Beendet um",
        "running": "Läuft seit",
        "deleted": "Dateien werden",
        "at_once": "endet sofort",
        "opened": "Streitfall für Miete #{id} eröffnet. Die Miete endete um",
        "billed": r"(\d+) s abgerechnet",
    },
}


async def _start(app, lang: str, *, probed: bool = False):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], PRICE)
    if probed:
        await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 1))
        assert (await verify(app, machine_id))["judged"] == 1
    await renter(app, "alice")
    w = Window(app)
    await w.say("alice", f"/lang {lang}")
    return w, machine_id


async def _active(app, w: Window) -> int:
    quote, _ = await w.say("alice", "/rent 4090 1h")
    rental_id = quote.meta["rental_id"]
    await w.say("alice", quote.buttons[0].label)  # confirm
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await w.chat.flush()
    return rental_id


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_an_expired_quote_says_it_expired(app, clock, lang):
    w, _ = await _start(app, lang)
    quote, _ = await w.say("alice", "/rent 4090 1h")
    clock.advance(app.lifecycle.rules.quote_ttl_s + 1)
    await app.keeper.tick()  # the keeper cancels the lapsed quote
    reply, text = await w.say("alice", quote.buttons[0].label)
    assert reply.error
    assert TEXTS[lang]["expired"].format(id=quote.meta["rental_id"]) in text, text


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_stop_says_the_files_are_deleted(app, clock, lang):
    w, _ = await _start(app, lang)
    rental_id = await _active(app, w)
    _, text = await w.say("alice", f"/stop #{rental_id}")
    assert TEXTS[lang]["deleted"] in text, text


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_status_of_an_ended_rental_says_when_it_ended(app, clock, lang):
    w, _ = await _start(app, lang)
    rental_id = await _active(app, w)
    clock.advance(3600)  # the prepaid hour runs out: the keeper ends it, settled later
    await app.keeper.tick()
    await w.chat.flush()
    clock.advance(600)
    _, text = await w.say("alice", f"/status #{rental_id}")
    assert TEXTS[lang]["ended"] in text and TEXTS[lang]["running"] not in text, text
    assert "1h" in text and "1h 10m" not in text  # it ran an hour, not until now


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_dispute_says_it_ends_the_rental_invites_no_other_and_bills_true_seconds(
    app, clock, lang
):
    w, machine_id = await _start(app, lang, probed=True)
    rental_id = await _active(app, w)
    for seq in range(2, 18):  # four minutes of beats, then ten minutes of silence
        clock.advance(HEARTBEAT_INTERVAL)
        await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], seq))
    clock.advance(600)
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 18))
    clock.advance(300)

    _, text = await w.say("alice", f"/dispute #{rental_id} GPU vanished for ten minutes")
    assert TEXTS[lang]["at_once"] in text and TEXTS[lang]["deleted"] in text, text
    w.lines.clear()
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await w.chat.flush()
    told = "\n".join(w.lines)
    assert TEXTS[lang]["opened"].format(id=rental_id) in told, told
    assert "/dispute" not in told  # the dispute is open: no invitation to open one

    w.lines.clear()
    clock.advance(app.lifecycle.rules.arbiter_delay_s)
    await app.keeper.tick()  # the arbiter decides, the escrow settles
    await w.chat.flush()
    told = "\n".join(w.lines)
    async with app.uow(readonly=True) as uow:
        r = await uow.rentals.get(rental_id)
    assert r.billed < billed(r.ended_at - r.started_at, PRICE)  # the outage was credited
    seconds = int(re.search(TEXTS[lang]["billed"], told).group(1))
    assert seconds < r.ended_at - r.started_at
    assert billed(seconds, PRICE) == r.billed, told  # the seconds shown cost the bill shown
