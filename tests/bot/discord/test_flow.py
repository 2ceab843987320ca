"""The renter's whole way through Discord, from a server channel: /rent, Confirm, the wallet
link by DM, credentials by DM (key file attached), /status, /stop, receipt, /rate, /receipts."""

from __future__ import annotations

import asyncio

import pytest

from bot.common.outbox import OutboxSender, SendLimits
from core.domain.rentals import RentalState
from tests.bot.discord.fakes import FakeUser, press
from tests.bot.discord.support import approve_all, dm_texts, slash, with_wallet
from tests.support import add_provider

PRICE = 650_000


def outbox_to(bot, *users: FakeUser) -> OutboxSender:
    """The production outbox sender with the DiscordNotifier; Discord's user cache holds
    ``users`` (as it would after they talked to the bot)."""
    by_id = {u.id: u for u in users}
    bot.get_user = by_id.get  # discord.Client.get_user: the cache lookup
    limits = SendLimits(per_second=1000.0, per_chat_interval_s=0.0)

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return OutboxSender(bot.app.notifications, bot.notifier, limits=limits, sleep=no_wait)


async def rental_state(app, rental_id: int) -> str:
    async with app.uow(readonly=True) as uow:
        return (await uow.rentals.get(rental_id)).state


async def test_rent_in_a_server_pays_and_gets_credentials_by_dm(
    bot, app, clock, server, alice, transcript
):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    await with_wallet(bot, alice)
    sender = outbox_to(bot, alice)

    await slash(bot, "rent", server.interaction(alice), gpu="RTX 4090", duration="3h")
    quote = transcript.last()
    assert quote.audience == "ephemeral"
    assert "RTX 4090" in quote.content and "1.95" in quote.content  # 3h x $0.65
    assert quote.labels == ["Confirm", "Cheaper", "Cancel"]

    await press(bot, quote, "Confirm", alice)
    payment = transcript.last("dm")
    assert payment.user_id == alice.id
    assert "1.95" in payment.content
    links = [url for _, url in payment.versions[-1].buttons]
    assert links and all(url.startswith("http") for url in links)  # wallet / signing page links
    assert quote.content == "Sent to you in a direct message." and quote.view is None
    assert transcript.seen("public") == []

    await approve_all(app)
    await sender.run_once()
    texts = dm_texts(transcript, alice)
    creds = next(t for t in texts if "ssh -p" in t)
    assert "Host key" in creds
    key_message = next(m for m in transcript.messages if m.files and m.audience == "dm")
    ((name, data),) = key_message.files
    assert name.endswith(".key") and b"PRIVATE KEY" in data
    rental_id = int(name.removeprefix("rigshare-").removesuffix(".key"))
    assert await rental_state(app, rental_id) == RentalState.ACTIVE

    status = await slash(bot, "status", server.interaction(alice))
    shown = status.original
    assert shown.audience == "ephemeral" and f"#{rental_id}" in shown.content
    assert "active" in shown.content

    clock.advance(3600)
    await slash(bot, "stop", server.interaction(alice))
    assert "Sent to you" in transcript.last("ephemeral").content
    await approve_all(app)
    await sender.run_once()
    assert any(f"Rental #{rental_id} ended" in t for t in dm_texts(transcript, alice))
    assert await rental_state(app, rental_id) == RentalState.SETTLED

    await slash(bot, "rate", server.interaction(alice), stars=5, comment="fast box")
    assert "5" in transcript.last().content and transcript.last().audience == "ephemeral"

    await slash(bot, "receipts", server.interaction(alice), csv=True)
    receipt = transcript.last("dm")
    ((csv_name, csv_data),) = receipt.files
    assert csv_name == "rigshare-receipts.csv" and str(rental_id).encode() in csv_data
    assert transcript.seen("public") == []


async def test_cheaper_and_cancel_replace_the_quote_in_place(bot, app, dm, alice, transcript):
    await add_provider(app, "dear", ["rtx4090"], 700_000)
    await slash(bot, "rent", dm.interaction(alice), gpu="4090", duration="2h", max_price="0.80")
    quote = transcript.last()
    assert quote.audience == "dm" and "1.40" in quote.content  # 2h x $0.70
    await press(bot, quote, "Cheaper", alice)  # nothing cheaper: the quote stays, a note follows
    note = transcript.last()
    assert note is not quote and "Nothing cheaper is free right now" in note.content
    assert "1.40" in quote.content and quote.labels == ["Confirm", "Cheaper", "Cancel"]

    await add_provider(app, "cheap", ["rtx4090"], 500_000)
    count = len(transcript.messages)
    await press(bot, quote, "Cheaper", alice)
    assert len(transcript.messages) == count  # the quote was edited, nothing new was sent
    assert "Quote #2" in quote.content and "$0.50/h" in quote.content
    assert quote.labels == ["Confirm", "Cheaper", "Cancel"]
    await press(bot, quote, "Cancel", alice)
    assert "cancelled" in quote.content and quote.view is None


async def test_dm_blocked_shows_the_payment_ephemerally_with_how_to_allow_dms(
    bot, app, server, transcript
):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    bob = FakeUser(transcript, "bob", takes_dms=False)
    await with_wallet(bot, bob)
    await slash(bot, "rent", server.interaction(bob), gpu="4090", duration="1h")
    quote = transcript.last()
    await press(bot, quote, "Confirm", bob)
    assert transcript.seen("dm") == []
    assert transcript.seen("public") == []
    assert "Privacy Settings" in quote.content and "0.65" in quote.content
    assert [url for _, url in quote.versions[-1].buttons if url.startswith("http")]
    assert quote.audience == "ephemeral"


@pytest.mark.parametrize("csv", [False, True])
async def test_receipts_in_dm_attach_csv_only_when_asked(bot, app, dm, alice, transcript, csv):
    await slash(bot, "receipts", dm.interaction(alice), csv=csv)
    message = transcript.last()
    assert message.audience == "dm"
    assert [name for name, _ in message.files] == (["rigshare-receipts.csv"] if csv else [])


async def test_confirm_without_a_wallet_sends_wallet_buttons_and_qr_by_dm(
    bot, app, server, transcript
):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    carol = FakeUser(transcript, "carol")  # no wallet linked yet
    await slash(bot, "rent", server.interaction(carol), gpu="4090", duration="1h")
    await press(bot, transcript.last(), "Confirm", carol)
    pairing = transcript.last("dm")
    labels = pairing.labels
    assert {"MetaMask", "Trust Wallet"} <= set(labels)  # universal links, one per wallet
    assert all(
        url.startswith("https://") or "/sign/" in url for _, url in pairing.versions[-1].buttons
    )
    ((name, png),) = pairing.files
    assert name.endswith(".png") and png.startswith(b"\x89PNG")
    assert transcript.seen("public") == []
