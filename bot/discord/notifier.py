"""DiscordNotifier: outbox messages (credentials, receipts, warnings) as DMs to the user.

Plugged into the platform-neutral ``bot.common.outbox.OutboxSender``. Everything goes to the
user's DMs (the outbox only ever holds one user's messages), files as attachments, the
ending-soon warning with an Extend button. Failures become ``DeliveryError`` so the sender
retries: Discord's "slow down" (HTTP 429) with its retry-after, a user who takes no DMs
with the usual back-off (they may allow DMs later), an unknown user never again.
"""

from __future__ import annotations

import io

import discord

from bot.common.dispatch import Button
from bot.common.outbox import DeliveryError, numeric_chat_id
from bot.discord import deliver
from bot.discord.views import reply_view
from core.ports import OutgoingMessage

PLATFORM = deliver.PLATFORM
DEFAULT_RETRY_AFTER_S = 5.0


class DiscordNotifier:
    """Implements core.ports.Notifier for Discord; raises DeliveryError."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def deliver(self, message: OutgoingMessage) -> None:
        user_id = numeric_chat_id(message, "Discord user id")
        view = reply_view(tuple(Button(label, action) for label, action in message.buttons))
        files = [
            discord.File(io.BytesIO(_bytes(content)), filename=name)
            for name, content in message.attachments.items()
        ]
        out = deliver.Outgoing(deliver.chunks(message.text), view, files)
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            await deliver.to_user(user, out)
        except discord.RateLimited as exc:
            raise DeliveryError("Discord rate limit", retry_after=exc.retry_after) from exc
        except discord.Forbidden as exc:
            raise DeliveryError(f"the user takes no DMs from the bot ({exc.code})") from exc
        except discord.NotFound as exc:
            raise DeliveryError(f"unknown Discord user ({exc.code})", permanent=True) from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise DeliveryError("Discord rate limit", retry_after=_retry_after(exc)) from exc
            raise DeliveryError(f"Discord error {exc.status} ({exc.code})") from exc


def _retry_after(exc: discord.HTTPException) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    try:
        return max(0.0, float(headers.get("Retry-After", DEFAULT_RETRY_AFTER_S)))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else bytes(content)
