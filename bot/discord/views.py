"""Buttons: a Reply's buttons as a ``discord.ui.View``, and /gpus paging.

Action buttons are ``DynamicItem``s whose custom id carries the dispatcher action
("rs:confirm:12"), so a press is understood even after a restart. Actions too long for a
custom id (100 characters) are kept in a small in-memory table instead; after a restart those
answer "that button has expired". Link buttons (wallet links) open in the browser and never
reach the bot.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from typing import Any

import discord

from bot.common.dispatch import Button, Reply
from bot.common.i18n import t

PREFIX = "rs:"
TOKEN_PREFIX = "rs~"
MAX_CUSTOM_ID = 100
MAX_URL = 512
_STYLES = {
    "confirm": discord.ButtonStyle.success,
    "cancel": discord.ButtonStyle.danger,
    "extend": discord.ButtonStyle.primary,
}


class LongActions:
    """Actions that do not fit in a custom id, by random token; the oldest are dropped."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._map: OrderedDict[str, str] = OrderedDict()

    def put(self, action: str) -> str:
        token = secrets.token_urlsafe(12)
        self._map[token] = action
        while len(self._map) > self.size:
            self._map.popitem(last=False)
        return token

    def get(self, token: str) -> str | None:
        return self._map.get(token)


LONG_ACTIONS = LongActions()


def custom_id_for(action: str) -> str:
    custom_id = PREFIX + action
    if len(custom_id) <= MAX_CUSTOM_ID:
        return custom_id
    return TOKEN_PREFIX + LONG_ACTIONS.put(action)


def action_of(custom_id: str) -> str | None:
    """The dispatcher action a custom id stands for; None when it has expired."""
    if custom_id.startswith(PREFIX):
        return custom_id[len(PREFIX) :]
    if custom_id.startswith(TOKEN_PREFIX):
        return LONG_ACTIONS.get(custom_id[len(TOKEN_PREFIX) :])
    return None


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rs[:~](?s:.+)"):
    """A button that runs a dispatcher action for whoever presses it."""

    def __init__(self, custom_id: str, label: str = "…", style: Any = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                custom_id=custom_id,
                style=style or discord.ButtonStyle.secondary,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> ActionButton:
        return cls(match.group(0), getattr(item, "label", None) or "…")

    @property
    def action(self) -> str | None:
        return action_of(self.custom_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.front.press(interaction, self.action)


def action_button(button: Button) -> discord.ui.Item:
    verb = button.action.partition(":")[0]
    return ActionButton(custom_id_for(button.action), button.label, _STYLES.get(verb))


def link_button(label: str, url: str) -> discord.ui.Button | None:
    """A link button, or None for a URL Discord would refuse (not http(s), too long)."""
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URL:
        return None
    return discord.ui.Button(label=label[:80], url=url, style=discord.ButtonStyle.link)


def page_line(line: str, page: int) -> str:
    """``line`` (a /gpus line) asking for ``page`` instead of the page it named."""
    words = [w for w in line.split() if not w.casefold().startswith("page=")]
    return " ".join([*words, f"page={page}"]) if page > 1 else " ".join(words)


def paging_buttons(lang: str, line: str, reply: Reply) -> tuple[Button, ...]:
    """Previous/Next for a /gpus page, as dispatcher text actions."""
    if reply.core_call != "market.search" or reply.error:
        return ()
    page, out = int(reply.meta.get("page", 1)), []
    if page > 1:
        out.append(Button(t(lang, "discord.prev"), "text:" + page_line(line, page - 1)))
    if reply.meta.get("has_more"):
        out.append(Button(t(lang, "discord.next"), "text:" + page_line(line, page + 1)))
    return tuple(out)


def reply_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A view with one button per Reply button (at most 25), or None when there are none."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons[:25]:
        if button.action.startswith("url:"):
            item = link_button(button.label, button.action[4:])
            if item is not None:
                view.add_item(item)
        else:
            view.add_item(action_button(button))
    return view if view.children else None
