"""A newcomer's whole session, as issue 13 saw it tried with only the README and /help.

Every command, mistake and follow-up from that report, in English and then in German, played
through the real dispatcher on the terminal chat, Telegram (aiogram's Dispatcher fed updates)
and Discord (DM messages through the bot's ``on_message``). Each step names the piece of the
reply that moves the user forward; every front end must give the same texts; and no reply may
leave the user stuck: a refusal names a command to send, asks something, or offers a button.
"""

from __future__ import annotations

import re

from core import grammar as g
from tests.bot.test_conversation import Say, play_discord, play_telegram, play_terminal

EN = [
    Say("/start", "/rent 4090 3h"),
    Say("/help", "/removemachine <machine>"),
    Say("/help rent", "/rent <gpu|#listing> <duration>"),
    # the dead ends: the bot's own questions are answered by the next message
    Say("/rent 4090", "For how long?", error=True),
    Say("3h", "Quote #1", g.RentArgs, error=False),
    Say("yes", "Approve ONE request in your wallet", error=False),
    Say("/gpus a100", "1) A100 40GB, 2) A100 80GB", error=True, approve=True),
    Say("2", "/gpus to see everything", g.Gpus),
    Say("/rent 4090 2h", "Quote #2", error=False),
    Say("Cheaper", "Nothing cheaper is free right now — quote #2 still stands"),
    Say("Cancel", "Quote #2 cancelled; nothing was charged"),
    # words that tell the truth
    Say("/gpus vram>=48", "Free GPUs (1 in all)"),
    Say("/gpus vram=24", "#1 · RTX 4090 · 24 GB"),
    Say("/gpus region=us", "Free GPUs (1 in all)"),
    Say("/gpus region=mars", "Unknown region 'mars' — use one of", error=True),
    Say("/rent 4090 3h region=mars", "Unknown region 'mars'", error=True),
    Say("/mieten h100 1h", "Quote #3", g.RentArgs, error=False),
    Say("no", "Quote #3 cancelled"),
    Say("/status", "Rental #1 · active"),
    Say("/status 2", "was cancelled before it started; nothing was charged", error=True),
    Say("/dispute #2", "was cancelled before it started", error=True),
    Say("/dispute #1", "What went wrong? Send the reason"),
    Say(
        "the GPU vanished",
        "a running rental ends at once (its instance and files are deleted",
        g.Dispute,
    ),
    Say("/stop 1", "Rental #1", approve=True),
    Say("/status 1", "Rental #1 · "),
    Say("/receipts", "Your receipts:"),
    Say("/receipts csv", "CSV attached: rigshare-receipts.csv"),
    Say("/rent", "Which GPU and for how long?", error=True),
    Say("/cancel", "Okay, cancelled."),
    # the provider side
    Say("/register", "Prove that you control the payout wallet"),
    Say(
        "/addmachine my box",
        "/addmachine my-box or /addmachine my region=eu",
        error=True,
        approve=True,
    ),
    Say("/addmachine box3 region=mars", "Unknown region 'mars'", error=True),
    Say("/addmachine box1 region=eu", "RIGSHARE_AGENT_TOKEN=", error=False),
    Say("/machines", "box1 · eu"),
    Say("/price box1 0.5", "start its agent first", error=True),
    Say("/resume box1", "off the market until its agent is online"),
    Say("/rotatetoken box1", "the old one stopped working just now"),
    Say("/removemachine box1", "To go ahead: /removemachine box1 confirm", error=True),
    Say("maybe", "I asked whether to go ahead", error=True),
    Say("yes", "box1", g.RemoveMachine, error=False),
    Say("/earnings", "Earnings"),
    Say("/frobnicate", "Unknown command /frobnicate", error=True),
    Say("hello", "Commands start with /", error=True),
]

DE = [
    Say("/lang de", "Deutsch"),
    Say("/hilfe", "/removemachine <machine>"),
    Say("/miete 4090", "Wie lange?", error=True),
    Say("2h", "Angebot #4", g.RentArgs, error=False),
    Say("nein", "Angebot #4 verworfen"),
    Say("/gpus vram>=48", "sortiert nach Preis"),
    Say("/gpus", "2,00 $/GPU·h"),
    Say("/gpus region=mars", "Unbekannte Region", error=True),
    Say("/status 1", "Miete #1 · "),
    Say("/receipts", "Quittungen"),
    Say("/addmachine box2 region=eu", "RIGSHARE_AGENT_TOKEN="),
    Say("/removemachine box2", "/removemachine box2 confirm", error=True),
    Say("nein", "Gut, nichts geändert."),
    Say("/machines", "box2"),
    Say("Hallo", "Befehle beginnen mit /", error=True),
]

NEXT_STEP = re.compile(r"/[a-z]+|\?|use one of|nimm eine von")  # a command, a question, a list


def forward(texts: list[str]) -> list[str]:
    """The replies that leave the user nowhere to go: none may."""
    return [x for x in texts if not NEXT_STEP.search(x) and "Quote #" not in x]


async def test_a_newcomer_session_moves_forward_on_every_front_end(tmp_path):
    script = EN + DE
    terminal = await play_terminal(tmp_path, script)
    telegram = await play_telegram(tmp_path, script)
    discord = await play_discord(tmp_path, script)
    assert telegram == terminal
    assert discord == terminal
    errors = [text for step, text in zip(script, terminal, strict=True) if step.error]
    assert forward(errors) == [], "a refusal that names no next step"
