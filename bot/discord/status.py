"""/status as one message that keeps itself current while the rental is live.

After answering /status the front end re-asks the same core call (``rentals.status`` for
that rental) every few seconds and edits the interaction's response when the text changed,
until the rental is no longer live or the interaction token is about to expire (Discord
allows edits for 15 minutes). One watcher per user: a new /status replaces the old one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.common.dispatch import Reply
from bot.common.keyed_tasks import OnePerKey
from bot.discord import deliver
from core.services.views import Principal

if TYPE_CHECKING:
    from bot.discord.front import DiscordFront

log = logging.getLogger(__name__)
LIVE_STATES = frozenset({"awaiting_payment", "funded", "provisioning", "active"})
TOKEN_LIFETIME_S = 14 * 60  # Discord: interaction tokens last 15 minutes


class LiveStatus:
    """One /status answer that updates itself."""

    def __init__(
        self,
        front: DiscordFront,
        interaction: discord.Interaction,
        who: Principal,
        reply: Reply,
    ) -> None:
        self.front = front
        self.interaction = interaction
        self.who = who
        self.line = f"/status {reply.meta.get('rental_id', '')}".strip()
        self.state = str(reply.meta.get("state", ""))
        self.text = reply.text
        self.files = reply.files
        self.edits = 0

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    async def step(self) -> bool:
        """Refresh once (edit only when the text changed); True while worth watching."""
        reply = await self.front.dispatcher.handle_text(self.who, self.line)
        if reply.error:  # settled or gone ("Rental #12 is settled."): say so under the last view
            final = Reply(f"{self.text}\n\n{reply.text}", files=self.files)
            await deliver.answer(self.interaction, final, self.who.lang)
            self.edits += 1
            return False
        self.state = str(reply.meta.get("state", ""))
        self.files = reply.files
        if reply.text != self.text:
            self.text = reply.text
            await deliver.answer(self.interaction, reply, self.who.lang)
            self.edits += 1
        return self.live


class StatusWatch:
    """Runs the LiveStatus loops, one per user."""

    def __init__(self, every_s: float = 20.0, lifetime_s: float = TOKEN_LIFETIME_S) -> None:
        self.every_s = every_s
        self.lifetime_s = lifetime_s
        self._loops: OnePerKey[int] = OnePerKey()

    @property
    def tasks(self) -> dict[int, asyncio.Task[None]]:
        """The running loops by user id."""
        return self._loops.running

    def watch(self, status: LiveStatus) -> None:
        if status.live:
            self._loops.start(status.who.user_id, self._run(status))
        else:
            self._loops.cancel(status.who.user_id)

    async def _run(self, status: LiveStatus) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lifetime_s
        while loop.time() + self.every_s < deadline:
            await asyncio.sleep(self.every_s)
            try:
                if not await status.step():
                    return
            except discord.HTTPException as exc:  # message deleted, token gone: stop quietly
                log.info("status refresh stopped: %s", exc)
                return
            except Exception:
                log.exception("status refresh failed")
                return

    async def close(self) -> None:
        await self._loops.close()
