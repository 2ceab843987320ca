"""The real RigshareBot (never connected) over the test App, and places to talk to it."""

from __future__ import annotations

import pytest

from bot.common.ratelimit import MemoryRateLimiter
from bot.discord.bot import RigshareBot
from tests.bot.discord.fakes import FakeChannel, FakeGuild, FakeUser, Place, Transcript


@pytest.fixture
async def bot(app):
    client = RigshareBot(app, sync=False)
    client.front.limiter = MemoryRateLimiter(1000.0, 1000)  # tests type faster than people
    async with client:  # asyncio objects only: no login, no gateway
        await client.setup_hook()
        yield client


@pytest.fixture
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture
def server(bot, transcript) -> Place:
    guild = FakeGuild()
    return Place(transcript, bot, guild, FakeChannel(transcript, guild))


@pytest.fixture
def dm(bot, transcript) -> Place:
    return Place(transcript, bot)


@pytest.fixture
def alice(transcript) -> FakeUser:
    return FakeUser(transcript, "alice")
