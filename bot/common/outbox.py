"""The outbox sender: delivers queued notifications to one chat platform, at least once.

Platform-neutral. Each chat front end brings a ``core.ports.Notifier`` (``platform`` plus
``deliver(OutgoingMessage)``) and runs one :class:`OutboxSender` with that platform's limits.
A sender claims due rows for a lease (``NotificationService.claim``, short: a sender that dies
leaves its rows to the next one within ``lease_s``) and renews the claim of each row right
before sending it (``hold``), so a row whose lease ran out while earlier ones were paced is
sent by whichever sender holds it now, never by two.
Delivery failures back off (``mark_failed``); a platform's "retry after N seconds" pauses the
whole sender, because flood limits apply to the bot, not to one chat.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.common import render_notices
from bot.common.i18n import t
from core.notifications import MalformedNotification, from_payload
from core.notifications.rentals import EndingSoon, PrivateKey
from core.ports import Notifier, OutgoingMessage
from core.services.isolation import reference
from core.services.notifications import DueMessage, NotificationService

log = logging.getLogger(__name__)
MAX_IDLE_AFTER_FAILURES_S = 60.0


class DeliveryError(Exception):
    """Raised by a Notifier that could not deliver. ``retry_after``: the platform said when
    to try again (flood control); ``permanent``: retrying cannot help (no such chat)."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


def numeric_chat_id(message: OutgoingMessage, what: str) -> int:
    """The platform's numeric id the message is for (``what`` names it in the error); a row
    stored with anything else can never be delivered."""
    try:
        return int(message.chat_id)
    except ValueError:
        raise DeliveryError(f"not a {what}: {message.chat_id[:30]!r}", permanent=True) from None


@dataclass(frozen=True, slots=True)
class SendLimits:
    """How fast a platform lets a bot send (Telegram: about 30 a second, 1 a second per chat)."""

    per_second: float = 30.0
    per_chat_interval_s: float = 1.0


def compose(m: DueMessage, *, explorer: str | None = None) -> OutgoingMessage:
    """The message for an outbox row, in the recipient's language: text, files, buttons.

    Raises MalformedNotification for a row that does not decode into its notification type
    (the row is then dead-lettered).
    """
    n = from_payload(m.kind, m.payload)
    text = render_notices.text(n, m.lang, explorer)
    attachments: dict[str, str] = {}
    buttons: tuple[tuple[str, str], ...] = ()
    if isinstance(n, PrivateKey):
        attachments[f"rigshare-{n.rental_id}.key"] = n.private_key
    if isinstance(n, EndingSoon):
        buttons = ((t(m.lang, "notify.extend_button"), f"extend:{n.rental_id}"),)
    return OutgoingMessage(
        outbox_id=m.outbox_id,
        user_id=m.user_id,
        platform=m.platform,
        chat_id=m.chat_id or "",
        kind=m.kind,
        text=text,
        private=m.private,
        attachments=attachments,
        buttons=buttons,
    )


class OutboxSender:
    """``await run(stop)`` until ``stop`` is set; ``run_once()`` sends one claimed batch."""

    def __init__(
        self,
        notifications: NotificationService,
        notifier: Notifier,
        *,
        explorer: str | None = None,
        limits: SendLimits | None = None,
        lease_s: int = 20,
        batch: int = 10,
        idle_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.notifications = notifications
        self.notifier = notifier
        self.explorer = explorer
        self.limits = limits or SendLimits()
        self.lease_s, self.batch, self.idle_s = lease_s, batch, idle_s
        self._now, self._sleep = monotonic, sleep
        self._tokens = self.limits.per_second
        self._tokens_at = monotonic()
        self._last_in_chat: dict[str, float] = {}
        self._paused_until = 0.0
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for due messages now instead of after the idle pause."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        failed_passes = 0
        while not stop.is_set():
            try:
                busy = await self.run_once()
                failed_passes = 0
            except Exception:
                failed_passes += 1
                ref = reference("outbox")
                log.exception(
                    "outbox pass for %s failed (%s in a row), reference %s",
                    self.notifier.platform,
                    failed_passes,
                    ref,
                )
                busy = 0
            if not busy:
                # a pass that keeps failing (the database away) is retried ever less often,
                # up to once a minute, instead of once per idle pause
                idle = min(MAX_IDLE_AFTER_FAILURES_S, self.idle_s * 2 ** min(failed_passes, 8))
                self._wake.clear()
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                _, pending = await asyncio.wait(
                    waits,
                    timeout=idle if failed_passes else self.idle_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for w in pending:
                    w.cancel()

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many rows it handled (sent or failed)."""
        pause = self._paused_until - self._now()
        if pause > 0:
            await self._sleep(pause)
        messages = await self.notifications.claim(self.notifier.platform, self.batch, self.lease_s)
        for i, m in enumerate(messages):
            if not await self._send(m):
                # flood control: hand the rest back untouched and pause the sender
                await self.notifications.release([x.outbox_id for x in messages[i + 1 :]])
                return i + 1
        return len(messages)

    async def _send(self, m: DueMessage) -> bool:
        """Deliver one message; False when the platform asked the sender to pause."""
        if not m.chat_id:
            await self._failed(m, "the user has no chat to send to", permanent=True)
            return True
        try:
            message = compose(m, explorer=self.explorer)
        except MalformedNotification as exc:  # a damaged or unknown row: never retried
            log.error("outbox message %s does not decode: %s", m.outbox_id, exc)
            await self._failed(m, f"malformed: {exc}", permanent=True)
            return True
        except Exception as exc:  # rendering is deterministic: this row never renders
            log.exception("cannot render outbox message %s (%s)", m.outbox_id, m.kind)
            await self._failed(m, f"render: {exc!r}", permanent=True)
            return True
        await self._pace(m.chat_id)
        if m.claimed_until is not None:
            # the claim may have run out while earlier messages were paced or slow: send only
            # if it is still ours (renewed for this send), never after another sender took it
            held = await self.notifications.hold(m.outbox_id, m.claimed_until, self.lease_s)
            if held is None:
                log.info("outbox message %s was taken over by another sender", m.outbox_id)
                return True
        try:
            await self.notifier.deliver(message)
        except DeliveryError as exc:
            if exc.retry_after is not None:
                wait = max(1.0, exc.retry_after)
                self._paused_until = self._now() + wait
                await self._failed(m, exc.reason, retry_in=math.ceil(wait))
                return False
            await self._failed(m, exc.reason, permanent=exc.permanent)
            return True
        except Exception as exc:
            log.exception("delivering outbox message %s failed", m.outbox_id)
            await self._failed(m, repr(exc))
            return True
        await self.notifications.mark_sent(m.outbox_id)
        self.sent += 1
        return True

    async def _failed(self, m: DueMessage, reason: str, **how: object) -> None:
        self.failed += 1
        await self.notifications.mark_failed(m.outbox_id, reason, **how)  # type: ignore[arg-type]

    async def _pace(self, chat_id: str) -> None:
        """Wait for a token of the platform-wide bucket and for the chat's interval."""
        now = self._now()
        rate = self.limits.per_second
        self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / rate
        last = self._last_in_chat.get(chat_id)
        if last is not None:
            wait = max(wait, last + self.limits.per_chat_interval_s - now)
        if wait > 0:
            await self._sleep(wait)
            now = self._now()
            self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
        self._tokens = max(0.0, self._tokens - 1)
        self._last_in_chat[chat_id] = self._now()
        if len(self._last_in_chat) > 10_000:  # forget chats that are long past their interval
            horizon = self._now() - self.limits.per_chat_interval_s
            self._last_in_chat = {c: x for c, x in self._last_in_chat.items() if x > horizon}
