"""A small stand-in for the parts of discord.py 2 the front end touches.

Faithful to the library's API and to Discord's rules where they matter here: an interaction
is answered once (``send_message`` or ``defer``; a second answer raises
``InteractionResponded``); ``edit_original_response`` and ``followup`` need an answer first;
an application command's deferred answer is a new "thinking" message (ephemeral when asked),
a component's plain ``defer()`` answers by editing the message the button is on; a user who
takes no DMs makes ``user.send`` raise ``discord.Forbidden`` (Discord error 50007). Every
message any audience can see is recorded in a ``Transcript`` with each version of its text
and files, so tests can say who saw what.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
from discord.utils import MISSING

from bot.discord.views import ActionButton

_ids = itertools.count(1_000_000)


@dataclass
class Version:
    content: str | None
    files: list[tuple[str, bytes]]
    buttons: list[tuple[str, str]]  # (label, custom id or url)


@dataclass
class FakeMessage:
    """A message; ``audience`` is "public" (a server channel), "ephemeral" or "dm"."""

    audience: str
    channel: Any
    user_id: int | None  # who sees it, for ephemeral and DM messages
    content: str | None = None
    view: discord.ui.View | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    deleted: bool = False
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def flags(self) -> discord.MessageFlags:
        return discord.MessageFlags(ephemeral=self.audience == "ephemeral")

    def _apply(self, content: Any, view: Any, files: Any, transcript: Transcript) -> None:
        if content is not MISSING:
            self.content = None if content is None else str(content)
        if view is not MISSING:
            self.view = view
        if files is not MISSING:
            self.files = [_read(f) for f in files]
        buttons = []
        for item in self.view.children if self.view else []:
            if isinstance(item, ActionButton):
                buttons.append((item.item.label, item.custom_id))
            else:
                buttons.append((item.label, item.url))
        self.versions.append(Version(self.content, list(self.files), buttons))
        if self not in transcript.messages:
            transcript.messages.append(self)

    async def edit(
        self, *, content: Any = MISSING, view: Any = MISSING, attachments: Any = MISSING, **_: Any
    ) -> FakeMessage:
        if self.deleted:
            raise discord.NotFound(_response(404), {"code": 10008, "message": "Unknown Message"})
        self._apply(content, view, attachments, self.channel.transcript)
        return self

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.versions[-1].buttons] if self.versions else []

    def button(self, label: str) -> discord.ui.Item:
        for item in self.view.children if self.view else []:
            if getattr(getattr(item, "item", item), "label", None) == label:
                return item
        raise AssertionError(f"no button {label!r} on {self.labels}")


def _read(f: discord.File) -> tuple[str, bytes]:
    data = f.fp.read()
    return f.filename, data


def _response(status: int) -> SimpleNamespace:
    return SimpleNamespace(status=status, reason={403: "Forbidden", 404: "Not Found"}[status])


@dataclass
class Transcript:
    messages: list[FakeMessage] = field(default_factory=list)

    def seen(self, audience: str) -> list[Version]:
        return [v for m in self.messages if m.audience == audience for v in m.versions]

    def last(self, audience: str | None = None) -> FakeMessage:
        found = [m for m in self.messages if audience is None or m.audience == audience]
        assert found, f"no {audience or ''} message sent"
        return found[-1]


@dataclass
class FakeGuild:
    id: int = field(default_factory=lambda: next(_ids))
    name: str = "GPU friends"


class FakeChannel:
    def __init__(self, transcript: Transcript, guild: FakeGuild | None, user_id: int | None = None):
        self.id = next(_ids)
        self.guild = guild
        self.transcript = transcript
        self.type = discord.ChannelType.text if guild else discord.ChannelType.private
        self.user_id = user_id  # the DM's other end

    async def send(
        self,
        content: Any = None,
        *,
        view: Any = MISSING,
        file: Any = MISSING,
        files: Any = MISSING,
        **_: Any,
    ) -> FakeMessage:
        message = FakeMessage("public" if self.guild else "dm", self, self.user_id)
        message._apply(content, view, _files(file, files), self.transcript)
        return message

    def get_partial_message(self, message_id: int) -> FakeMessage:
        for m in self.transcript.messages:
            if m.id == message_id and m.channel is self:
                return m
        gone = FakeMessage("public", self, None, deleted=True)
        gone.id = message_id
        return gone


def _files(file: Any, files: Any) -> Any:
    if file is not MISSING:
        return [file]
    return files


class FakeUser:
    def __init__(self, transcript: Transcript, name: str = "alice", *, takes_dms: bool = True):
        self.id = next(_ids)
        self.name = name
        self.display_name = name.title()
        self.takes_dms = takes_dms
        self.dm_channel = FakeChannel(transcript, None, self.id)

    async def send(
        self,
        content: Any = None,
        *,
        view: Any = MISSING,
        file: Any = MISSING,
        files: Any = MISSING,
        **kw: Any,
    ) -> FakeMessage:
        if not self.takes_dms:
            raise discord.Forbidden(
                _response(403), {"code": 50007, "message": "Cannot send messages to this user"}
            )
        return await self.dm_channel.send(content, view=view, file=file, files=files, **kw)


class FakeResponse:
    def __init__(self, interaction: FakeInteraction) -> None:
        self._parent = interaction
        self.kind: str | None = None

    def is_done(self) -> bool:
        return self.kind is not None

    def _once(self, kind: str) -> None:
        if self.kind is not None:
            raise discord.InteractionResponded(self._parent)  # type: ignore[arg-type]
        self.kind = kind

    async def send_message(
        self,
        content: Any = None,
        *,
        file: Any = MISSING,
        files: Any = MISSING,
        view: Any = MISSING,
        ephemeral: bool = False,
        **_: Any,
    ) -> None:
        self._once("message")
        self._parent.original = self._parent._new_message(ephemeral)
        self._parent.original._apply(content, view, _files(file, files), self._parent.transcript)

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        self._once("deferred")
        it = self._parent
        if it.type == discord.InteractionType.component and not thinking:
            it.original = it.message  # deferred update: edits go to the button's message
        else:
            it.original = it._new_message(ephemeral)
            it.original._apply("…thinking", MISSING, MISSING, it.transcript)

    async def edit_message(
        self, *, content: Any = MISSING, view: Any = MISSING, attachments: Any = MISSING, **_: Any
    ) -> None:
        assert self._parent.message is not None, "edit_message answers component interactions"
        self._once("edit")
        self._parent.original = self._parent.message
        self._parent.message._apply(content, view, attachments, self._parent.transcript)


class FakeFollowup:
    def __init__(self, interaction: FakeInteraction) -> None:
        self._parent = interaction

    async def send(
        self,
        content: Any = MISSING,
        *,
        ephemeral: bool = False,
        view: Any = MISSING,
        file: Any = MISSING,
        files: Any = MISSING,
        wait: bool = False,
        **_: Any,
    ) -> FakeMessage:
        if not self._parent.response.is_done():
            raise discord.NotFound(_response(404), {"code": 10015, "message": "Unknown Webhook"})
        message = self._parent._new_message(ephemeral)
        message._apply(
            None if content is MISSING else content,
            view,
            _files(file, files),
            self._parent.transcript,
        )
        return message


class FakeInteraction:
    def __init__(
        self,
        client: Any,
        user: FakeUser,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        locale: discord.Locale = discord.Locale.american_english,
        guild_locale: discord.Locale | None = None,
        permissions: discord.Permissions | None = None,
        message: FakeMessage | None = None,
        transcript: Transcript,
    ) -> None:
        self.id = next(_ids)
        self.client = client
        self.user = user
        self.guild = guild
        self.guild_id = guild.id if guild else None
        self.channel = channel or (
            user.dm_channel if guild is None else FakeChannel(transcript, guild)
        )
        self.channel_id = self.channel.id
        self.locale = locale
        self.guild_locale = guild_locale
        self.permissions = permissions or discord.Permissions.none()
        self.message = message
        self.type = (
            discord.InteractionType.component
            if message
            else discord.InteractionType.application_command
        )
        self.transcript = transcript
        self.response = FakeResponse(self)
        self.followup = FakeFollowup(self)
        self.original: FakeMessage | None = None

    def _new_message(self, ephemeral: bool) -> FakeMessage:
        if self.guild is None:
            return FakeMessage("dm", self.channel, self.user.id)
        return FakeMessage(
            "ephemeral" if ephemeral else "public",
            self.channel,
            self.user.id if ephemeral else None,
        )

    async def edit_original_response(
        self, *, content: Any = MISSING, view: Any = MISSING, attachments: Any = MISSING, **_: Any
    ) -> FakeMessage:
        if self.original is None:
            raise discord.NotFound(_response(404), {"code": 10015, "message": "Unknown Webhook"})
        self.original._apply(content, view, attachments, self.transcript)
        return self.original

    async def original_response(self) -> FakeMessage:
        if self.original is None:
            raise discord.NotFound(_response(404), {"code": 10015, "message": "Unknown Webhook"})
        return self.original


@dataclass
class Place:
    """Where a user talks to the bot: their DM, or a channel of a server."""

    transcript: Transcript
    client: Any
    guild: FakeGuild | None = None
    channel: FakeChannel | None = None

    def interaction(self, user: FakeUser, **kw: Any) -> FakeInteraction:
        return FakeInteraction(
            self.client,
            user,
            guild=self.guild,
            channel=self.channel,
            transcript=self.transcript,
            **kw,
        )


async def press(
    client: Any, message: FakeMessage, label: str, user: FakeUser, **kw: Any
) -> FakeInteraction:
    """Press a button the way discord.py dispatches it: a DynamicItem is rebuilt from its
    custom id (``from_custom_id``), then its callback runs with the component interaction."""
    item = message.button(label)
    guild = message.channel.guild
    interaction = FakeInteraction(
        client, user, guild=guild, channel=message.channel, message=message,
        transcript=message.channel.transcript, **kw,
    )  # fmt: skip
    if isinstance(item, ActionButton):
        match = ActionButton.__discord_ui_compiled_template__.match(item.custom_id)
        item = await ActionButton.from_custom_id(interaction, item.item, match)
    await item.callback(interaction)
    return interaction
