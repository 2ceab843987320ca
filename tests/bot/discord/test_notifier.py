"""DiscordNotifier: outbox messages as DMs, files attached, Extend on the warning, and
Discord's refusals turned into the outbox sender's retry rules."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from bot.common.outbox import DeliveryError
from bot.discord.notifier import DiscordNotifier
from core.ports import OutgoingMessage
from tests.bot.discord.fakes import FakeUser, Transcript, press


def message(chat_id: str, **kw) -> OutgoingMessage:
    fields = dict(
        outbox_id=1, user_id=1, platform="discord", chat_id=chat_id, kind="credentials",
        text="Your GPU is ready", private=True,
    )  # fmt: skip
    return OutgoingMessage(**(fields | kw))


class Client:
    """discord.Client's two user look-ups: the cache, then the API."""

    def __init__(self, *users: FakeUser, api_error: Exception | None = None) -> None:
        self.users = {u.id: u for u in users}
        self.api_error = api_error

    def get_user(self, user_id: int):
        return None  # nothing cached: every look-up goes to the API

    async def fetch_user(self, user_id: int):
        if self.api_error:
            raise self.api_error
        if user_id not in self.users:
            raise discord.NotFound(
                SimpleNamespace(status=404, reason="Not Found"),
                {"code": 10013, "message": "Unknown User"},
            )
        return self.users[user_id]


async def test_dm_with_key_file_and_extend_button(bot, app, transcript):
    alice = FakeUser(transcript)
    notifier = DiscordNotifier(Client(alice))
    await notifier.deliver(
        message(str(alice.id), kind="private_key", text="Private key for rental #7",
                attachments={"rigshare-7.key": "-----BEGIN OPENSSH PRIVATE KEY-----\n"})
    )  # fmt: skip
    sent = transcript.last()
    assert sent.audience == "dm" and sent.user_id == alice.id
    assert sent.files == [("rigshare-7.key", b"-----BEGIN OPENSSH PRIVATE KEY-----\n")]

    await notifier.deliver(
        message(
            str(alice.id),
            kind="ending_soon",
            text="Rental #7 ends soon",
            buttons=(("Extend 1h", "extend:7"),),
        )
    )
    warning = transcript.last()
    assert warning.labels == ["Extend 1h"]
    await press(bot, warning, "Extend 1h", alice)  # answers in a new message: the warning stays
    assert transcript.last() is not warning and warning.content == "Rental #7 ends soon"


async def test_refusals_become_delivery_errors_the_sender_understands():
    transcript = Transcript()
    shy = FakeUser(transcript, "shy", takes_dms=False)
    with pytest.raises(DeliveryError) as blocked:
        await DiscordNotifier(Client(shy)).deliver(message(str(shy.id)))
    assert not blocked.value.permanent and blocked.value.retry_after is None  # may allow DMs later

    with pytest.raises(DeliveryError) as unknown:
        await DiscordNotifier(Client()).deliver(message("123456"))
    assert unknown.value.permanent

    with pytest.raises(DeliveryError) as garbage:
        await DiscordNotifier(Client()).deliver(message("not-a-snowflake"))
    assert garbage.value.permanent

    slow_down = discord.HTTPException(
        SimpleNamespace(status=429, reason="Too Many Requests", headers={"Retry-After": "7.5"}),
        {"code": 0, "message": "You are being rate limited."},
    )
    with pytest.raises(DeliveryError) as limited:
        await DiscordNotifier(Client(api_error=slow_down)).deliver(message("123456"))
    assert limited.value.retry_after == 7.5

    with pytest.raises(DeliveryError) as limited:
        await DiscordNotifier(Client(api_error=discord.RateLimited(12.0))).deliver(message("1"))
    assert limited.value.retry_after == 12.0

    outage = discord.HTTPException(SimpleNamespace(status=503, reason="Unavailable"), "down")
    with pytest.raises(DeliveryError) as down:
        await DiscordNotifier(Client(api_error=outage)).deliver(message("1"))
    assert not down.value.permanent and down.value.retry_after is None
