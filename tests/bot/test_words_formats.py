"""Numbers, amounts, states and sorts read right in English and German (issue 13): German
decimal commas and "$" after the number, one precision for the prices shown together,
states and sort names in the reader's language, "new host" instead of a made-up reliability,
and a /receipts csv whose columns say their units. Played through the terminal chat (the
real dispatcher)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest

from core.domain.reliability import MIN_OBSERVED_SECONDS
from tests.bot.terminal_window import Window
from tests.support import add_provider, heartbeat, renter


async def _window(app, lang: str) -> Window:
    await renter(app, "alice")
    w = Window(app)
    await w.say("alice", f"/lang {lang}")
    return w


GPUS = {
    "en": ["sorted by price", "$0.2200/GPU·h", "$0.3705/GPU·h", "new host ·"],
    "de": ["sortiert nach Preis", "0,2200 $/GPU·h", "0,3705 $/GPU·h", "neuer Host ·"],
}


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_gpus_shows_one_precision_the_language_s_numbers_and_new_hosts(app, lang):
    await add_provider(app, "cheap", ["rtx4090"], 220_000)
    await add_provider(app, "odd", ["rtx4090"], 370_500)
    w = await _window(app, lang)
    _, text = await w.say("alice", "/gpus 4090")
    for fragment in GPUS[lang]:
        assert fragment in text, text
    assert "$0.22/" not in text and "80.0%" not in text and "80,0 %" not in text, text
    if lang == "de":
        assert "price" not in text and "$0" not in text, text


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_host_with_a_day_of_history_shows_its_reliability(app, clock, lang):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], 650_000)
    w = await _window(app, lang)
    for seq in range(2, 2 + MIN_OBSERVED_SECONDS // 600 + 2):  # a day and a bit of beats
        clock.advance(600)
        await app.agents.heartbeat(machine_id, heartbeat(["rtx4090"], seq))
    await app.agents.refresh_reliability(machine_id)
    _, text = await w.say("alice", "/gpus 4090")
    assert ("reliability " if lang == "en" else "Zuverlässigkeit ") in text, text
    assert "new host" not in text and "neuer Host" not in text, text
    # a quote says the same
    _, quote = await w.say("alice", "/rent 4090 3h")
    assert "new host" not in quote and "neuer Host" not in quote, quote
    assert ("%" in quote) and ("1.95 USDC" if lang == "en" else "1,95 USDC") in quote, quote


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_quote_and_status_read_in_the_language(app, lang):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    w = await _window(app, lang)
    quote, text = await w.say("alice", "/rent 4090 3h")
    assert ("$0.65/h" if lang == "en" else "0,65 $/h") in text, text
    assert ("new host" if lang == "en" else "neuer Host") in text, text
    await w.say("alice", quote.buttons[0].label)  # confirm
    w.lines.clear()
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await w.chat.flush()
    told = "\n".join(w.lines)
    # the embedded default's host is simulated: said plainly, before the ssh line
    simulated = "SIMULATED: this host is a simulation" if lang == "en" else "SIMULIERT: dieser"
    assert simulated in told and told.index(simulated) < told.index("ssh -p"), told
    assert ("no SSH server" if lang == "en" else "kein SSH-Server") in told, told
    _, status = await w.say("alice", "/status")
    assert ("· active" if lang == "en" else "· läuft") in status, status
    if lang == "de":
        assert "active" not in status and "0.00 USDC" not in status, status


async def test_receipts_csv_names_its_units_and_parses(app):
    await add_provider(app, "prov", ["rtx4090"], 370_500)
    w = await _window(app, "de")  # the file is the same in every language
    quote, _ = await w.say("alice", "/rent 4090 1h")
    rental_id = quote.meta["rental_id"]
    await w.say("alice", quote.buttons[0].label)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await w.chat.flush()
    await w.say("alice", f"/stop #{rental_id}")
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await w.chat.flush()

    reply, _ = await w.say("alice", "/receipts csv")
    ((name, data),) = reply.files
    assert name == "rigshare-receipts.csv"
    text = data.decode() if isinstance(data, bytes) else data
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {"started_at_utc", "ended_at_utc", "deposit_usdc", "billed_usdc"}
    assert not any(h in row for h in ("deposit", "billed", "started_at", "price_per_hour"))
    async with app.uow(readonly=True) as uow:
        r = await uow.rentals.get(rental_id)
    for column, micro in (
        ("price_per_hour_usdc", r.price_per_hour),
        ("deposit_usdc", r.deposit),
        ("billed_usdc", r.billed),
        ("refund_usdc", r.refund),
    ):
        assert Decimal(row[column]) * 10**6 == micro, (column, row[column])
    assert row["price_per_hour_usdc"] == "0.370500"
    started = datetime.fromisoformat(row["started_at_utc"].replace("Z", "+00:00"))
    assert int(started.timestamp()) == r.started_at and row["started_at_utc"].endswith("Z")


REGIONS = {
    "en": (
        "Regions: region=us|ca|sa|eu|asia|me|af|oce",
        "Unknown region 'mars'",
        "europe, germany",
    ),
    "de": (
        "Regionen: region=us|ca|sa|eu|asia|me|af|oce",
        "Unbekannte Region 'mars'",
        "europa, deutschland",
    ),
}
COVERED = "us (us-east, us-central, us-west)"


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_gpus_and_an_unknown_region_name_the_region_codes(app, lang):
    await add_provider(app, "prov", ["rtx4090"], 650_000, region="us-west")
    w = await _window(app, lang)
    listed, unknown, names = REGIONS[lang]
    _, text = await w.say("alice", "/gpus")
    assert listed in text and "eu-west" in text, text
    reply, text = await w.say("alice", "/gpus region=mars")
    assert reply.error and unknown in text and COVERED in text and names in text, text
    assert "eu (eu-west, eu-central, eu-north, eu-south)" in text and "asia (" in text, text
    _, text = await w.say("alice", "/gpus region=us")  # a broad code finds us-west
    assert "· us-west ·" in text, text
    _, text = await w.say("alice", "/gpus region=asia")  # nothing there: every code, named
    assert COVERED in text and names in text, text
