"""The Discord front end's one path for every slash command and button press.

The slash commands (bot/discord/slash.py, generated from the command registry) hand over
their typed option values; this class defers the interaction (ephemeral in servers),
identifies the user, passes the values or the button's action to the shared ``Dispatcher``
and delivers the Reply under the privacy rule (bot/discord/deliver.py).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

import discord

from bot.common.dispatch import Dispatcher, Reply
from bot.common.i18n import t
from bot.common.ratelimit import MemoryRateLimiter, RateLimiter
from bot.common.services import ChatFrontServices
from bot.discord import deliver
from bot.discord.status import LiveStatus, StatusWatch
from bot.discord.views import paging_buttons
from core.grammar import text_of
from core.services.views import Principal

log = logging.getLogger(__name__)
IN_PLACE_VERBS = ("confirm", "cancel", "cheaper", "text")  # the answer replaces the message


class DiscordFront:
    def __init__(
        self,
        app: ChatFrontServices,
        *,
        status_every_s: float = 20.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.dispatcher = Dispatcher(app)
        self.status = StatusWatch(every_s=status_every_s)
        s = app.settings
        self.limiter = limiter or MemoryRateLimiter(s.discord_rate_per_s, s.discord_rate_burst)
        self.dropped = 0

    async def _allowed(self, interaction: discord.Interaction) -> bool:
        """The user's rate limit; over it, a short ephemeral note and nothing else."""
        if await self.limiter.allow(f"dc:{interaction.user.id}"):
            return True
        self.dropped += 1
        locale = getattr(interaction.locale, "value", "") or ""
        lang = "de" if locale.startswith("de") else "en"
        await interaction.response.send_message(t(lang, "discord.rate_limited"), ephemeral=True)
        return False

    async def who(self, interaction: discord.Interaction) -> Principal:
        return await deliver.principal(self.app.users, interaction)

    async def options(
        self,
        interaction: discord.Interaction,
        name: str,
        values: dict[str, Any],
        *,
        dm_only: bool = False,
    ) -> Reply | None:
        """Answer the slash command ``name`` with its option values; returns the Reply
        delivered (None when a provider command was refused outside DMs)."""
        if not await self._allowed(interaction):
            return None
        private = deliver.is_private(interaction)
        await interaction.response.defer(ephemeral=not private, thinking=True)
        try:
            # deferred first: Discord waits 15 minutes for the answer, not 3 seconds
            async with self.app.admission.slot():
                return await self._options(
                    interaction, name, values, dm_only=dm_only, private=private
                )
        except Exception:
            await self._failed(interaction, in_place=False)
            return None

    async def _options(
        self,
        interaction: discord.Interaction,
        name: str,
        values: dict[str, Any],
        *,
        dm_only: bool,
        private: bool,
    ) -> Reply | None:
        who = await self.who(interaction)
        if dm_only and not private:
            refusal = Reply(t(who.lang, "discord.dm_only", command=name), error=True)
            await deliver.answer(interaction, refusal, who.lang)
            return None
        reply = await self.dispatcher.handle_options(who, name, values)
        line = text_of(name, values)  # what the paging buttons send again
        await deliver.answer(
            interaction, reply, who.lang, buttons=paging_buttons(who.lang, line, reply)
        )
        if reply.core_call == "rentals.status" and not reply.error:
            self.status.watch(LiveStatus(self, interaction, who, reply))
        return reply

    async def press(self, interaction: discord.Interaction, action: str | None) -> Reply | None:
        """Answer a button press: confirm/cancel/cheaper/paging replace the pressed message,
        anything else (Extend on a warning) answers in a new message."""
        if not await self._allowed(interaction):
            return None
        private = deliver.is_private(interaction)
        verb = (action or "").partition(":")[0]
        if verb in IN_PLACE_VERBS:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=not private, thinking=True)
        try:
            async with self.app.admission.slot():
                return await self._press(interaction, action, verb)
        except Exception:
            await self._failed(interaction, in_place=verb in IN_PLACE_VERBS)
            return None

    async def _press(
        self, interaction: discord.Interaction, action: str | None, verb: str
    ) -> Reply:
        who = await self.who(interaction)
        if action is None:
            reply = Reply(t(who.lang, "discord.expired"), error=True)
        else:
            reply = await self.dispatcher.handle_action(who, action)
        buttons = ()
        if verb == "text":
            buttons = paging_buttons(who.lang, action.partition(":")[2], reply)
        # a refused Cheaper or Confirm leaves the quote (still good) where it was
        keep = reply.error and verb in IN_PLACE_VERBS and reply.core_call != "rentals.confirm"
        await deliver.answer(interaction, reply, who.lang, buttons=buttons, new_message=keep)
        return reply

    async def message(self, message: discord.Message) -> Reply | None:
        """Answer a plain message of the user's DM (the caller checked it is one) in the DM."""
        user = message.author
        if not await self.limiter.allow(f"dc:{user.id}"):
            self.dropped += 1
            return None
        try:
            async with self.app.admission.slot():
                return await self._message(message)
        except Exception:
            log.exception("discord DM message failed (ref %s)", secrets.token_hex(4))
            return None

    async def _message(self, message: discord.Message) -> Reply:
        user = message.author
        who = await self.app.users.identify(
            deliver.PLATFORM,
            str(user.id),
            getattr(user, "display_name", None) or user.name,
            chat_id=str(user.id),
            private_chat=True,
        )
        reply = await self.dispatcher.handle_text(who, message.content or "")
        await deliver.to_user(user, deliver.Outgoing.of(reply))
        return reply

    async def _failed(self, interaction: discord.Interaction, *, in_place: bool) -> None:
        """Something unexpected (the database, Discord): log it with a reference and tell the
        user briefly, without touching a message that still shows a good quote."""
        ref = secrets.token_hex(4)
        log.exception("discord interaction failed (ref %s)", ref)
        locale = getattr(interaction.locale, "value", "") or ""
        text = t("de" if locale.startswith("de") else "en", "error.generic", ref=ref)
        with contextlib.suppress(discord.HTTPException):
            if in_place:
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.edit_original_response(content=text, view=None)
