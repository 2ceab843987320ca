"""Sending a ``Reply`` to Telegram: text, keyboard, pictures and files, and group safety.

A reply that holds a credential, key, token or wallet detail (``Reply.private``) never goes to
a group: it goes to the user's private chat, and the group only hears "I sent you a private
message". When Telegram refuses (403: the user never opened a chat with the bot), the group
gets a t.me deep link instead, and nothing private.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.common.dispatch import Reply
from bot.common.i18n import t
from bot.telegram.keyboards import markup

log = logging.getLogger(__name__)
MAX_TEXT = 4096
MAX_CAPTION = 1024


@dataclass(frozen=True, slots=True)
class Where:
    """The chat an update came from and who sent it."""

    chat_id: int
    private: bool
    user_id: int
    lang: str


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split a long text at line ends into messages Telegram accepts."""
    out, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                out.append(current)
                current = ""
            out.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current or not out:
        out.append(current or "-")
    return out


class Responder:
    """Sends replies for one bot; ``username`` builds the deep link to its private chat."""

    def __init__(self, bot: Bot, username: str) -> None:
        self.bot = bot
        self.username = username

    @property
    def deep_link(self) -> str:
        return f"https://t.me/{self.username}?start=private"

    async def reply(
        self,
        where: Where,
        reply: Reply,
        state: FSMContext | None = None,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> Message | None:
        """Send ``reply`` where it may go; the first message sent there (None if only the
        group heard about a private message). ``keyboard`` replaces the reply's buttons."""
        if reply.private and not where.private:
            return await self._via_private_chat(where, reply)
        return await self.send(where.chat_id, reply, state, keyboard)

    async def _via_private_chat(self, where: Where, reply: Reply) -> None:
        try:
            # FSM data of the private chat is not at hand here: long actions get no button
            await self.send(where.user_id, reply, None)
        except TelegramForbiddenError:
            button = InlineKeyboardButton(
                text=t(where.lang, "telegram.open_private_button"), url=self.deep_link
            )
            await self.bot.send_message(
                where.chat_id,
                t(where.lang, "telegram.open_private", link=self.deep_link),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
            )
            return None
        await self.bot.send_message(where.chat_id, t(where.lang, "telegram.private_sent"))
        return None

    async def send(
        self,
        chat_id: int,
        reply: Reply,
        state: FSMContext | None,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> Message:
        """Text (with the keyboard on its last part), then files; a single picture carries
        the text as its caption when it fits. Raises TelegramAPIError subclasses."""
        keyboard = keyboard or await markup(reply.buttons, state)
        pictures = [(n, c) for n, c in reply.files if isinstance(c, bytes)]
        documents = [(n, c) for n, c in reply.files if not isinstance(c, bytes)]
        first: Message | None = None
        if len(pictures) == 1 and len(reply.text) <= MAX_CAPTION:
            name, content = pictures.pop()
            first = await self.bot.send_photo(
                chat_id,
                BufferedInputFile(content, filename=name),
                caption=reply.text,
                reply_markup=keyboard,
            )
        else:
            parts = chunks(reply.text)
            for i, part in enumerate(parts):
                sent = await self.bot.send_message(
                    chat_id, part, reply_markup=keyboard if i == len(parts) - 1 else None
                )
                first = first or sent
        for name, content in pictures:
            await self.bot.send_photo(chat_id, BufferedInputFile(content, filename=name))
        for name, content in documents:
            data = content.encode() if isinstance(content, str) else content
            await self.bot.send_document(chat_id, BufferedInputFile(data, filename=name))
        assert first is not None
        return first

    async def edit(
        self,
        message: Message,
        reply: Reply,
        state: FSMContext | None,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Replace a message's text and keyboard with ``reply`` (a page turned, a quote
        replaced); an unchanged message is left alone."""
        keyboard = keyboard or await markup(reply.buttons, state)
        try:
            if message.photo or message.document:
                await message.edit_caption(caption=reply.text[:MAX_CAPTION], reply_markup=keyboard)
            else:
                await message.edit_text(chunks(reply.text)[0], reply_markup=keyboard)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise
