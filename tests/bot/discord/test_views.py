"""Buttons: /gpus paging, ambiguous GPU names, long and expired actions, link buttons."""

from __future__ import annotations

from bot.common.dispatch import Button
from bot.discord.views import LONG_ACTIONS, ActionButton, custom_id_for, page_line, reply_view
from tests.bot.discord.fakes import FakeUser, press
from tests.bot.discord.support import slash
from tests.support import add_provider


async def test_gpus_pages_forward_and_back_in_place(bot, app, server, alice, transcript):
    for i in range(10):  # two pages of 6
        await add_provider(app, f"p{i}", ["rtx4090"], 500_000 + i * 10_000)
    await slash(bot, "gpus", server.interaction(alice), gpu="4090", region="eu")
    board = transcript.last()
    assert "$0.50" in board.content and "$0.59" not in board.content
    assert board.labels == ["Next ▶"]
    await press(bot, board, "Next ▶", alice)
    assert "$0.59" in board.content and "$0.50" not in board.content
    assert board.labels == ["◀ Previous"]
    await press(bot, board, "◀ Previous", alice)
    assert "$0.50" in board.content and board.labels == ["Next ▶"]
    assert len(transcript.messages) == 1 and board.audience == "ephemeral"


async def test_ambiguous_gpu_offers_each_model_and_a_press_rents_it(
    bot, app, dm, alice, transcript
):
    await add_provider(app, "prov", ["a100-80gb"], 1_500_000)
    await slash(bot, "rent", dm.interaction(alice), gpu="a100", duration="2h")
    choice = transcript.last()
    assert choice.labels == ["A100 40GB", "A100 80GB"]
    await press(bot, choice, "A100 80GB", alice)
    assert "Quote #" in choice.content and choice.labels == ["Confirm", "Cheaper", "Cancel"]


async def test_actions_too_long_for_a_custom_id_are_kept_by_token(bot, dm, transcript):
    line = "/gpus " + " ".join(["4090"] + ["verified"] * 30)
    custom_id = custom_id_for("text:" + line)
    assert len(custom_id) <= 100 and custom_id.startswith("rs~")
    short = custom_id_for("confirm:12")
    assert short == "rs:confirm:12"
    view = reply_view((Button("Again", "text:" + line),))
    (item,) = view.children
    assert isinstance(item, ActionButton) and item.action == "text:" + line
    LONG_ACTIONS._map.clear()  # as after a restart
    bob = FakeUser(transcript, "bob")
    sent = await bob.send("menu", view=view)
    await press(bot, sent, "Again", bob)
    assert "expired" in transcript.last().content


def test_link_buttons_only_for_web_urls():
    view = reply_view(
        (
            Button("Open wallet", "url:https://wallet.example/wc?uri=wc%3Aabc"),
            Button("Pair", "url:wc:abc@2?relay-protocol=irn"),  # Discord refuses non-web links
            Button("Too long", "url:https://x.example/" + "a" * 600),
        )
    )
    assert [(b.label, b.url) for b in view.children] == [
        ("Open wallet", "https://wallet.example/wc?uri=wc%3Aabc")
    ]
    assert reply_view((Button("Pair", "url:wc:abc"),)) is None


def test_page_line_replaces_the_page():
    assert page_line("/gpus 4090 page=3 region=eu", 2) == "/gpus 4090 region=eu page=2"
    assert page_line("/gpus 4090 page=3", 1) == "/gpus 4090"
