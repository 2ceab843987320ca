"""TelegramNotifier: outbox messages (payment seen, credentials, key file, warnings,
receipts) in the user's private chat with the bot.

Plugged into ``bot.common.outbox.OutboxSender`` with Telegram's limits. Failures become
``DeliveryError``: flood control ("retry after N") pauses the sender, a user who blocked the
bot or never started it is retried with the usual back-off, an unknown chat never again.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile

from bot.common.dispatch import Button, Reply
from bot.common.outbox import DeliveryError, SendLimits, numeric_chat_id
from bot.telegram.sending import MAX_CAPTION, Responder
from core.ports import OutgoingMessage

PLATFORM = "telegram"
TELEGRAM_LIMITS = SendLimits(per_second=25.0, per_chat_interval_s=1.0)


class TelegramNotifier:
    """Implements core.ports.Notifier for Telegram; raises DeliveryError."""

    platform = PLATFORM

    def __init__(self, bot: Bot, responder: Responder) -> None:
        self.bot = bot
        self.responder = responder

    async def deliver(self, message: OutgoingMessage) -> None:
        chat_id = numeric_chat_id(message, "Telegram chat")
        if chat_id <= 0:  # groups and channels have negative ids: never for a user's messages
            raise DeliveryError("outbox messages go to private chats only", permanent=True)
        try:
            await self._send(chat_id, message)
        except TelegramRetryAfter as exc:
            raise DeliveryError("Telegram flood control", retry_after=exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryError(f"the user does not take messages: {exc.message}") from exc
        except TelegramBadRequest as exc:
            permanent = "chat not found" in exc.message.lower()
            raise DeliveryError(f"Telegram refused: {exc.message}", permanent=permanent) from exc
        except (TelegramNetworkError, TelegramAPIError) as exc:
            raise DeliveryError(f"Telegram error: {exc}") from exc

    async def _send(self, chat_id: int, message: OutgoingMessage) -> None:
        buttons = tuple(Button(label, action) for label, action in message.buttons)
        files = list(message.attachments.items())
        if len(files) == 1 and len(message.text) <= MAX_CAPTION:
            # the key file carries its instructions as the caption: one message
            name, content = files[0]
            await self.bot.send_document(
                chat_id,
                BufferedInputFile(content.encode(), filename=name),
                caption=message.text,
            )
            return
        await self.responder.send(chat_id, Reply(message.text, buttons, files=tuple(files)), None)
