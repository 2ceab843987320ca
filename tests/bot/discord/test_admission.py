"""Discord interactions wait for the process's admission control, after deferring."""

from __future__ import annotations

import asyncio
import contextlib

from tests.bot.admission_support import Concurrency
from tests.bot.discord.support import slash


async def test_discord_commands_wait_for_a_slot_after_deferring(
    bot, app, server, alice, transcript
):
    seen = Concurrency(bot.front.dispatcher, "handle_options")
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold_every_slot() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(app.admission.limit):
                await stack.enter_async_context(app.admission.slot())
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold_every_slot())
    await held.wait()
    interaction = server.interaction(alice)
    command = asyncio.create_task(slash(bot, "help", interaction))
    await asyncio.sleep(0.05)
    assert interaction.response.is_done()  # deferred at once: Discord's 3 s are safe
    assert seen.calls == 0 and app.admission.waiting == 1  # but handled only with a slot
    release.set()
    await holder
    await command
    assert seen.calls == 1  # /help is long: it arrives in several messages
    assert any("/receipts" in (m.content or "") for m in transcript.messages)
