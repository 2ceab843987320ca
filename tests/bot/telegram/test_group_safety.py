"""Groups: nothing private ever reaches a group chat, for every command; private replies go to
the user's private chat, or the group gets a deep link when the bot may not write there;
provider commands answer only in private."""

from __future__ import annotations

import re

from tests.bot.telegram.fake_telegram import BOT_USERNAME
from tests.bot.telegram.support import ALICE, CAROL, GROUP, texts
from tests.bot.telegram.test_renter_flow import rent_until_active

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx8oVJwbJ0e7rR1mJkBVa7Q8n0Eo5l6X1x0c3K9mZbN alice@laptop"
)
SECRETS = [
    re.compile(r"PRIVATE KEY"),  # a key file
    re.compile(r"ssh -p \d+"),  # the login
    re.compile(r"SHA256:"),  # host key fingerprint
    re.compile(r"rsa_[A-Za-z0-9_-]{20,}"),  # agent tokens
    re.compile(r"0x[0-9a-fA-F]{40}"),  # wallet addresses and transaction hashes
    re.compile(r"/sign/"),  # signing links
    re.compile(r"wc:[0-9a-f]{16,}"),  # WalletConnect pairings
    re.compile(r"AAAAC3NzaC1lZDI1NTE5"),  # the user's own public key
    re.compile(r"rigshare-\d+\.key|\.csv"),  # files
    re.compile(r"token=|lab\?|ssh -N -L"),  # the Jupyter token and its tunnel
]
EVERY_COMMAND = [
    "/start",
    "/help",
    "/help rent",
    "/gpus",
    "/gpus 4090 verified",
    "/rent 4090 1h",
    "/rent 4090 1h template=jupyter ports=8080,6006",
    "/rent #1 1h image=pytorch",
    "/templates",
    "/templates 4090",
    "/status",
    "/extend 1h",
    "/receipts",
    "/receipts csv",
    "/connect",
    "/wallet",
    "/sshkey",
    f"/sshkey {ED25519}",
    "/lang de",
    "/lang en",
    "/register 0x1111111111111111111111111111111111111111",
    "/addmachine box9",
    "/machines",
    "/price box9 0.50",
    "/pause",
    "/resume",
    "/earnings",
    "/dispute the GPU is slow",
    "/dispute",
    "it rebooted twice",
    "/rate 5",
    "/stop",
    "/rnet",
    f"/status@{BOT_USERNAME}",
    "/status@some_other_bot",
]


def leaks(calls) -> list[str]:
    found = []
    for c in calls:
        if c.chat_id is not None and c.chat_id < 0:
            content = c.content()
            found += [f"{c.method}: {p.pattern}" for p in SECRETS if p.search(content)]
            found += [f"{c.method}: a file" for _ in c.files]
    return found


async def test_no_command_ever_shows_a_secret_in_a_group(tg):
    # a live rental started in the group itself, with JupyterLab and a published port: the
    # payment and the credentials (the Jupyter token among them) go private
    jupyter = "/rent 4090 3h template=jupyter ports=8080"
    rental_id = await rent_until_active(tg, chat_id=GROUP, line=jupyter)
    await tg.send(CAROL, "/register 0x2222222222222222222222222222222222222222")  # private
    for line in EVERY_COMMAND:
        for user in (ALICE, CAROL):
            calls = await tg.send(user, line, GROUP)
            for c in calls:
                quote = c.chat_id == GROUP and c.buttons()
                if quote and "Confirm" in str(quote):
                    await tg.press(user, c, "Confirm")  # the confirmation goes private too
        await tg.deliver()
    calls = tg.telegram.calls
    assert leaks(calls) == []
    group = tg.telegram.sent(chat_id=GROUP)
    assert any("I sent you a private message." == c.text for c in group)
    # the private things did happen, in the private chats
    private = texts(tg.telegram.sent(chat_id=ALICE.id))
    assert f"rigshare-{rental_id}.key" in str([c.files for c in tg.telegram.sent(chat_id=ALICE.id)])
    assert "ssh -p 2222" in private
    assert re.search(r"lab\?token=[A-Za-z0-9_-]{16,}", private)  # the token was there to leak
    assert "Port 8080 → 127.0.0.1:" in private
    assert "Provider commands work in a private chat" in texts(group)
    # a command for another bot is left alone
    assert not await tg.send(ALICE, "/status@some_other_bot", GROUP)


async def test_private_reply_falls_back_to_a_deep_link_when_the_bot_may_not_write(tg):
    tg.telegram.blocked.add(ALICE.id)  # Alice never pressed Start in a private chat
    calls = await tg.send(ALICE, "/receipts", GROUP)
    refused = [c for c in calls if c.chat_id == ALICE.id]
    assert refused, "the bot tried the private chat first"
    (told,) = [c for c in calls if c.chat_id == GROUP]
    assert "I can't write to you privately yet" in told.text
    (link,) = told.buttons()
    assert link["url"] == f"https://t.me/{BOT_USERNAME}?start=private"
    assert leaks(calls) == []
    # after pressing Start there, the same command is answered privately
    tg.telegram.blocked.clear()
    (start,) = await tg.send(ALICE, "/start private")
    assert start.chat_id == ALICE.id and "Welcome" in start.text
    calls = await tg.send(ALICE, "/receipts", GROUP)
    assert [c.chat_id for c in calls] == [ALICE.id, GROUP]


async def test_provider_commands_answer_only_in_private(tg):
    calls = await tg.send(CAROL, "/addmachine box1", GROUP)
    (refused,) = [c for c in calls if c.chat_id == GROUP]
    assert "Provider commands work in a private chat with the bot only." in refused.text
    assert not [c for c in calls if c.chat_id == CAROL.id]
    await tg.send(CAROL, "/register 0x2222222222222222222222222222222222222222")
    await tg.deliver()
    calls = await tg.send(CAROL, "/addmachine box1")
    assert "rigshare-agent --server" in texts(calls) or "/register" in texts(calls)
