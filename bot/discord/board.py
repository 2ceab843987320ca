"""The public /gpus board: one message per channel that a server admin posts and pins.

Which messages are boards is kept in the settings table (key ``discord.boards``, a JSON
list), so boards keep refreshing after a restart. A board shows what ``/gpus`` shows, from
the same core call, in the server's language; a board whose message or channel is gone is
forgotten.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.common.i18n import t
from bot.discord import deliver
from core.services.views import Principal

log = logging.getLogger(__name__)
KEY = "discord.boards"
MAX_BOARDS = 1000
LINE = "/gpus"

Resolve = Callable[[int], Awaitable[Any]]  # channel id -> channel (raises discord.NotFound)


def server_lang(interaction: discord.Interaction) -> str:
    locale = getattr(interaction.guild_locale, "value", "") or ""
    return "de" if locale.startswith("de") else "en"


class Board:
    def __init__(self, front) -> None:  # noqa: ANN001 - DiscordFront (no import cycle)
        self.front = front

    async def records(self) -> list[dict]:
        raw = await self.front.app.kv.get(KEY)
        try:
            value = json.loads(raw) if raw else []
        except ValueError:
            log.warning("discarding unreadable %s setting", KEY)
            return []
        return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []

    async def _save(self, records: list[dict]) -> None:
        await self.front.app.kv.put(KEY, json.dumps(records[-MAX_BOARDS:], separators=(",", ":")))

    async def render(self, lang: str, now: int) -> str:
        """The board text: the first /gpus page and when it was last refreshed."""
        who = Principal(user_id=0, platform=deliver.PLATFORM, private_chat=False, lang=lang)
        reply = await self.front.dispatcher.handle_text(who, LINE)
        footer = t(lang, "discord.board_footer", when=f"<t:{now}:R>")
        body = deliver.chunks(reply.text, deliver.MAX_CONTENT - len(footer) - 2)[0]
        return f"{body}\n\n{footer}"

    async def post(self, channel: Any, guild_id: int, lang: str) -> Any:
        """Post a board in ``channel`` (replacing that channel's earlier board) and remember
        it. Raises discord.HTTPException when Discord refuses the message."""
        message = await channel.send(await self.render(lang, self.front.app.clock.now()))
        records = [r for r in await self.records() if r.get("channel") != channel.id]
        records.append(
            {"guild": guild_id, "channel": channel.id, "message": message.id, "lang": lang}
        )
        await self._save(records)
        return message

    async def refresh(self, resolve: Resolve) -> int:
        """Edit every board with the current market; return how many were edited."""
        records, kept, edited = await self.records(), [], 0
        texts: dict[str, str] = {}
        now = self.front.app.clock.now()
        for record in records:
            lang = str(record.get("lang", "en"))
            try:
                if lang not in texts:
                    texts[lang] = await self.render(lang, now)
                channel = await resolve(int(record["channel"]))
                await channel.get_partial_message(int(record["message"])).edit(content=texts[lang])
                edited += 1
            except (discord.NotFound, discord.Forbidden, KeyError, ValueError, TypeError) as exc:
                log.info("forgetting board %s: %s", record, exc)
                continue
            except discord.HTTPException as exc:  # rate limit or outage: try next minute
                log.warning("board %s not refreshed: %s", record, exc)
            kept.append(record)
        if len(kept) != len(records):
            await self._save(kept)
        return edited
