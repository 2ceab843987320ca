"""/status as one message that keeps itself current while the rental runs.

After a /status reply, a task edits that message every ``interval_s`` (text, or the chart
picture with its caption) through the same Dispatcher call, and stops when the rental is no
longer live (a last edit marks it final), when the message is gone, after ``max_age_s``, or
when a newer /status in the same chat follows the same rental.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message

from bot.common.dispatch import Dispatcher, Reply
from bot.common.i18n import t
from bot.common.keyed_tasks import OnePerKey
from core import grammar as g
from core.services.views import Principal

log = logging.getLogger(__name__)
CAPTION = 1024


class LiveStatus:
    def __init__(
        self,
        bot: Bot,
        rig: Dispatcher,
        *,
        interval_s: float = 45.0,
        max_age_s: float = 6 * 3600,
    ) -> None:
        self.bot, self.rig = bot, rig
        self.interval_s, self.max_age_s = interval_s, max_age_s
        self._loops: OnePerKey[tuple[int, int]] = OnePerKey()
        self.edits = 0

    @property
    def following(self) -> int:
        return len(self._loops.running)

    def follow(self, message: Message, who: Principal, rental_id: int) -> None:
        """Keep ``message`` (a /status reply for ``rental_id``) up to date."""
        shown = message.caption if message.photo else message.text
        self._loops.start(
            (message.chat.id, rental_id),
            self._run(
                message.chat.id, message.message_id, bool(message.photo), who, rental_id, shown
            ),
        )

    async def close(self) -> None:
        await self._loops.close()

    async def _run(
        self,
        chat_id: int,
        message_id: int,
        photo: bool,
        who: Principal,
        rental_id: int,
        shown: str | None,
    ) -> None:
        started = time.monotonic()
        while time.monotonic() - started < self.max_age_s:
            await asyncio.sleep(self.interval_s)
            reply = await self.rig.handle_command(who, g.Status(rental_ref=str(rental_id)))
            if reply.error:  # settled and gone from /status: mark what is shown as final
                if shown is None:
                    return
                reply = Reply(shown, meta={"live": False})
            shown = reply.text
            live = bool(reply.meta.get("live"))
            text = reply.text if live else f"{reply.text}\n{t(who.lang, 'telegram.status_final')}"
            try:
                await self._edit(chat_id, message_id, photo, text, reply)
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except TelegramBadRequest as exc:
                if "not modified" not in exc.message:
                    log.info("live status of rental %s stops: %s", rental_id, exc.message)
                    return
            except TelegramForbiddenError:
                return
            if not live:
                return

    async def _edit(
        self, chat_id: int, message_id: int, photo: bool, text: str, reply: Reply
    ) -> None:
        png = next((c for _, c in reply.files if isinstance(c, bytes)), None)
        if photo and png is not None:
            media = InputMediaPhoto(
                media=BufferedInputFile(png, filename=f"rental-{message_id}.png"),
                caption=text[:CAPTION],
            )
            await self.bot.edit_message_media(media=media, chat_id=chat_id, message_id=message_id)
        elif photo:
            await self.bot.edit_message_caption(
                chat_id=chat_id, message_id=message_id, caption=text[:CAPTION]
            )
        else:
            await self.bot.edit_message_text(text[:4096], chat_id=chat_id, message_id=message_id)
        self.edits += 1
