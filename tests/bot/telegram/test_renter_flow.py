"""A renter's whole conversation in a private chat, through aiogram's Dispatcher: every
renter command, the quote and /gpus buttons, notifications from the outbox, the status chart,
receipts as CSV, and a dispute that asks for its reason."""

from __future__ import annotations

import asyncio
import re
import struct
import zlib

from tests.bot.telegram.support import ALICE, Harness, texts
from tests.support import heartbeat

# the credentials of an instance: root in its own container, the rental named in the head line
SSH_LINE = re.compile(r"ready — rental #(\d+)\nssh -p 2222 root@127\.0\.0\.1")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    # the image data decompresses to one filter byte plus one palette byte per pixel a row
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    raw = zlib.decompress(data[start : start + length])
    assert len(raw) == height * (width + 1)
    return width, height


async def rent_until_active(tg: Harness, user=ALICE, chat_id=None, line="/rent 4090 3h") -> int:
    """Rent, press Confirm, let the wallet and the agent answer; returns the rental id."""
    quote = (await tg.send(user, line, chat_id))[0]
    await tg.press(user, quote, "Confirm")
    await tg.deliver()
    creds = [c for c in tg.telegram.sent(chat_id=user.id) if SSH_LINE.search(c.text)]
    assert creds, texts(tg.telegram.sent(chat_id=user.id))
    return int(SSH_LINE.search(creds[-1].text).group(1))


async def test_start_help_and_gpus_pages_with_filter_buttons(tg):
    (start,) = await tg.send(ALICE, "/start")
    assert "/rent 4090 3h" in start.text and start.method == "sendMessage"
    (helped,) = await tg.send(ALICE, "/help")
    assert "/receipts [csv]" in helped.text

    (page1,) = await tg.send(ALICE, "/gpus")
    assert "page 1" in page1.text and page1.text.count("RTX 3090") == 6  # six to a page
    assert [b["text"] for b in page1.buttons()][0] == "Next ▶"
    (turned,) = [c for c in await tg.press(ALICE, page1, "Next") if c.method == "editMessageText"]
    assert "page 2" in turned.text and "RTX 4090" in turned.text
    assert int(turned.params["message_id"]) == page1.result["message_id"]
    assert [b["text"] for b in turned.buttons()][0] == "◀ Previous"
    # sort by VRAM: the H100 first; the filter of the original command is kept while paging
    (by_vram,) = [
        c for c in await tg.press(ALICE, page1, "Most VRAM") if c.method.startswith("edit")
    ]
    assert re.match(r"#\d+ · H100", by_vram.text.splitlines()[1])
    # simulated hosts are never checked by the service: none is verified
    (h100,) = await tg.send(ALICE, "/gpus h100 verified")
    assert h100.text.startswith("No GPU matches")
    assert "All GPUs" in [b["text"] for b in h100.buttons()]
    (again,) = [c for c in await tg.press(ALICE, h100, "All GPUs") if c.method.startswith("edit")]
    assert "H100" in again.text and "RTX" not in again.text  # the model filter is kept
    assert "unverified (a simulated host is never checked)" in again.text


async def test_quote_buttons_cheaper_cancel_and_no_second_confirm(tg):
    (quote,) = await tg.send(ALICE, "/rent 4090 3h region=us")
    assert "$0.42/h" in quote.text
    assert [b["text"] for b in quote.buttons()] == ["Confirm", "Cheaper", "Cancel"]
    calls = await tg.press(ALICE, quote, "Cheaper")
    (cheaper,) = [c for c in calls if c.method == "editMessageText"]
    assert (
        "$0.35/h" in cheaper.text
        and int(cheaper.params["message_id"]) == quote.result["message_id"]
    )
    assert any(c.method == "answerCallbackQuery" for c in calls)
    quote2 = cheaper
    calls = await tg.press(ALICE, quote2, "Cheaper")  # nothing cheaper than $0.35
    (alert,) = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "Nothing cheaper is free right now" in alert.params["text"]
    assert "still stands" in alert.params["text"]
    assert not [c for c in calls if c.method in ("editMessageText", "sendMessage")]  # kept
    calls = await tg.press(ALICE, quote2, "Cancel")
    (cancelled,) = [c for c in calls if c.method == "editMessageText"]
    assert "cancelled; nothing was charged" in cancelled.text and not cancelled.buttons()
    calls = await tg.press(ALICE, quote2, "Confirm")  # a cancelled quote cannot be confirmed
    (refused,) = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "cancelled" in refused.params["text"]


async def test_whole_rental_credentials_status_extend_stop_receipt_rate(tg):
    rental_id = await rent_until_active(tg)
    dm = tg.telegram.sent(chat_id=ALICE.id)
    assert any("Payment seen" in c.text for c in dm)
    (key,) = [c for c in dm if c.method == "sendDocument"]
    ((name, content),) = key.files.values()
    assert name == f"rigshare-{rental_id}.key" and b"PRIVATE KEY" in content
    creds = [c for c in dm if SSH_LINE.search(c.text)][-1]
    assert "SHA256:simulatedhostkey" in creds.text
    assert "GPUs: GPU-0000-rtx4090" in creds.text and "SIMULATED" in creds.text

    (status,) = await tg.send(ALICE, "/status")
    assert status.method == "sendMessage" and f"Rental #{rental_id} · active" in status.text
    # a few minutes of heartbeats: the status becomes a picture with the last hour's chart
    machine = tg.app.test_machines["hal"]
    for _ in range(4):
        tg.app.clock.advance(60)
        await tg.app.agents.heartbeat(machine, heartbeat(["rtx4090"]))
    (chart,) = await tg.send(ALICE, "/status")
    assert chart.method == "sendPhoto" and "Chart: load" in chart.text
    ((_, png),) = chart.files.values()
    assert png_size(png) == (360, 120)

    extend = await tg.send(ALICE, "/extend 1h")
    assert "1h" in texts(extend) or "0.35 USDC" in texts(extend)
    await tg.deliver()
    assert any("extended: prepaid until" in c.text for c in tg.telegram.sent(chat_id=ALICE.id))

    tg.app.clock.advance(1800)
    await tg.send(ALICE, "/stop")
    await tg.deliver()
    receipt = tg.telegram.sent(chat_id=ALICE.id)[-1]
    assert f"Receipt · rental #{rental_id} · settled" in receipt.text
    assert re.search(r"Refund\s+\d+\.\d{6} USDC", receipt.text)
    assert "stop: 0x" in receipt.text  # a development chain: hashes without explorer links

    (rated,) = await tg.send(ALICE, "/rate 5")
    assert f"You rated rental #{rental_id} with 5/5" in rated.text
    calls = await tg.send(ALICE, "/receipts csv")
    (csv_doc,) = [c for c in calls if c.method == "sendDocument"]
    ((name, data),) = csv_doc.files.values()
    assert name == "rigshare-receipts.csv" and data.startswith(b"rental,gpu,state")
    assert f"\n{rental_id},1x RTX 4090,settled".encode() in data


async def test_ending_soon_warning_has_an_extend_button(tg):
    rental_id = await rent_until_active(tg)
    tg.app.clock.advance(3 * 3600 - 10 * 60)
    await tg.app.keeper.tick()
    await tg.deliver()
    warning = tg.telegram.sent(chat_id=ALICE.id)[-1]
    assert f"Rental #{rental_id}: prepaid time ends" in warning.text
    calls = await tg.press(ALICE, warning, "Extend 1h")
    assert any(c.method == "answerCallbackQuery" for c in calls)
    assert any(c.chat_id == ALICE.id and c.method in ("sendMessage", "sendPhoto") for c in calls)


async def test_dispute_without_reason_asks_then_shows_evidence(tg):
    rental_id = await rent_until_active(tg)
    (asked,) = await tg.send(ALICE, "/dispute")
    assert "What went wrong?" in asked.text
    calls = await tg.send(ALICE, "the GPU vanished after an hour")
    joined = texts(calls)
    assert f"rental #{rental_id}" in joined
    assert f"Evidence for rental #{rental_id}" in joined or "Nothing was recorded" in joined
    # the next message is an ordinary command again
    (again,) = await tg.send(ALICE, "/help")
    assert "/receipts [csv]" in again.text


async def test_dispute_question_can_be_cancelled(tg):
    await rent_until_active(tg)
    await tg.send(ALICE, "/dispute")
    (cancelled,) = await tg.send(ALICE, "/cancel")
    assert cancelled.text == "Okay, no dispute."
    (nothing,) = await tg.send(ALICE, "/cancel")
    assert nothing.text == "Nothing to cancel."


async def test_live_status_edits_itself_and_stops_when_the_rental_ends(tg_app):
    tg = Harness(tg_app, status_interval_s=0.02)
    await tg.start()
    try:
        await rent_until_active(tg)
        (status,) = await tg.send(ALICE, "/status")
        await _wait(lambda: tg.front.live.edits >= 2)
        edits = tg.telegram.sent("editMessageText", ALICE.id)
        assert edits and all(
            int(e.params["message_id"]) == status.result["message_id"] for e in edits
        )
        await tg.send(ALICE, "/stop")
        await tg.deliver()
        await _wait(lambda: tg.front.live.following == 0)
        assert "final" in tg.telegram.sent("editMessageText", ALICE.id)[-1].text
    finally:
        await tg.close()


async def _wait(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_unknown_and_plain_text(tg):
    (unknown,) = await tg.send(ALICE, "/rnet 4090 3h")
    assert "did you mean /rent" in unknown.text
    (plain,) = await tg.send(ALICE, "gpus h100")
    assert "H100" in plain.text
