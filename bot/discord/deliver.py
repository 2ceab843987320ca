"""Putting a Reply on Discord: text chunks, attachments, buttons and the privacy rule.

The privacy rule: in a server (guild) channel every answer is ephemeral, and a Reply marked
``private`` (credentials, keys, agent tokens, wallet details) goes to the user's direct
messages instead; if Discord refuses the DM (the user blocks DMs from server members) it is
shown ephemerally, with how to allow DMs. Nothing private is ever a public message.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.common.dispatch import Reply
from bot.common.i18n import t
from bot.discord.views import reply_view
from core.services.users import UserService
from core.services.views import Principal

PLATFORM = "discord"
MAX_CONTENT = 2000
MAX_FILES = 10


def is_private(interaction: discord.Interaction) -> bool:
    """True in the user's DM with the bot; a server channel or group DM is not private."""
    channel = interaction.channel
    return interaction.guild_id is None and getattr(channel, "type", None) in (
        discord.ChannelType.private,
    )


async def principal(users: UserService, interaction: discord.Interaction) -> Principal:
    """The rigshare user behind an interaction; the Discord client's language picks the
    reply language when the user is first seen (/lang changes it later)."""
    user = interaction.user
    locale = getattr(interaction.locale, "value", None) or str(interaction.locale or "")
    return await users.identify(
        PLATFORM,
        str(user.id),
        getattr(user, "display_name", None) or user.name,
        lang_hint=locale or None,
        chat_id=str(user.id),  # DMs are opened by user id
        private_chat=is_private(interaction),
    )


def chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Markdown-escaped text in pieces Discord accepts, split at line ends when possible."""
    text = discord.utils.escape_markdown(text) or "\u200b"
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    out.append(text)
    return out


def files_of(reply: Reply) -> list[discord.File]:
    """Fresh ``discord.File`` objects (each can be sent once) for the reply's files."""
    out = []
    for name, content in reply.files[:MAX_FILES]:
        data = content.encode() if isinstance(content, str) else bytes(content)
        out.append(discord.File(io.BytesIO(data), filename=name))
    return out


@dataclass
class Outgoing:
    """One reply ready for Discord: text pieces, and buttons and files for the last piece."""

    pieces: list[str]
    view: discord.ui.View | None
    files: list[discord.File]

    @classmethod
    def of(cls, reply: Reply, *, note: str = "", buttons: Sequence = ()) -> Outgoing:
        text = reply.text + (f"\n\n{note}" if note else "")
        return cls(chunks(text), reply_view(tuple(reply.buttons) + tuple(buttons)), files_of(reply))


async def to_user(user: discord.abc.User, out: Outgoing) -> None:
    """Send to the user's DMs; raises discord.Forbidden when the user does not take DMs."""
    for i, piece in enumerate(out.pieces):
        last = i == len(out.pieces) - 1
        kwargs: dict = {}
        if last and out.view is not None:
            kwargs["view"] = out.view
        if last and out.files:
            kwargs["files"] = out.files
        await user.send(piece, **kwargs)


async def to_original(interaction: discord.Interaction, out: Outgoing, *, private: bool) -> None:
    """Edit the deferred response into the reply; further pieces follow (ephemeral in a
    server). The response must have been deferred with ``ephemeral=not private``."""
    first, rest = out.pieces[0], out.pieces[1:]
    await interaction.edit_original_response(
        content=first,
        view=out.view if not rest else None,
        attachments=out.files if not rest else [],
    )
    for i, piece in enumerate(rest):
        last = i == len(rest) - 1
        kwargs: dict = {"ephemeral": not private}
        if last and out.view is not None:
            kwargs["view"] = out.view
        if last and out.files:
            kwargs["files"] = out.files
        await interaction.followup.send(piece, **kwargs)


async def to_followup(interaction: discord.Interaction, out: Outgoing) -> None:
    """New ephemeral message(s) after the response."""
    for i, piece in enumerate(out.pieces):
        last = i == len(out.pieces) - 1
        kwargs: dict = {"ephemeral": True}
        if last and out.view is not None:
            kwargs["view"] = out.view
        if last and out.files:
            kwargs["files"] = out.files
        await interaction.followup.send(piece, **kwargs)


def original_is_ephemeral(interaction: discord.Interaction) -> bool:
    """Whether the message the deferred response edits is seen by the user alone: a slash
    command's deferred answer is (every defer in a server asks for it), a pressed button's
    message is when it was sent ephemeral."""
    message = getattr(interaction, "message", None)
    if message is None:
        return True
    return bool(message.flags.ephemeral)


async def answer(
    interaction: discord.Interaction,
    reply: Reply,
    lang: str,
    *,
    buttons: Sequence = (),
    new_message: bool = False,
) -> None:
    """Deliver ``reply`` to a deferred interaction under the privacy rule, by editing the
    deferred response: a slash command's (or a button's new) ephemeral "thinking" message,
    or the message whose button was pressed; ``new_message`` leaves that message as it is
    and answers in a new ephemeral one. Raises discord.HTTPException from Discord."""
    private_ctx = is_private(interaction)
    if new_message and not reply.private:
        await to_followup(interaction, Outgoing.of(reply, buttons=buttons))
        return
    if reply.private and not private_ctx:
        try:
            await to_user(interaction.user, Outgoing.of(reply, buttons=buttons))
        except discord.Forbidden:
            # an ephemeral message is private too: show it there, and say how to allow DMs
            out = Outgoing.of(reply, note=t(lang, "discord.dm_blocked"), buttons=buttons)
            if original_is_ephemeral(interaction):
                await to_original(interaction, out, private=False)
            else:
                await to_followup(interaction, out)
            return
        await to_original(
            interaction, Outgoing.of(Reply(t(lang, "discord.sent_dm"))), private=False
        )
        return
    await to_original(interaction, Outgoing.of(reply, buttons=buttons), private=private_ctx)
