"""The Telegram front end: one aiogram Bot and Dispatcher wired to the application.

Polling by default. With ``TELEGRAM_WEBHOOK=true`` (and an https ``PUBLIC_URL``) Telegram
POSTs updates to ``{PUBLIC_URL}{TELEGRAM_WEBHOOK_PATH}`` on the service's web server, each
carrying the secret token header that aiogram's handler checks. FSM data (dispute steps,
long button actions) and rate limits live in memory, or in Redis when ``REDIS_URL`` is set,
so several processes behind a load balancer share them. The outbox sender for Telegram users
runs here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Protocol

from aiogram import Bot
from aiogram import Dispatcher as AiogramDispatcher
from aiogram import methods as m
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods.base import Response
from aiohttp import web

from bot.common.dispatch import Dispatcher
from bot.common.outbox import OutboxSender, SendLimits
from bot.common.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from bot.common.redis_ledger import RedisUpdateLedger
from bot.common.render import explorer_base
from bot.common.services import ChatFrontServices
from bot.telegram.admission import AdmissionMiddleware, GatedWebhook
from bot.telegram.context import Tg
from bot.telegram.live import LiveStatus
from bot.telegram.menu import set_menu
from bot.telegram.middlewares import IdentityMiddleware, LanguageMiddleware, RateLimitMiddleware
from bot.telegram.notifier import TELEGRAM_LIMITS, TelegramNotifier
from bot.telegram.once import OnceMiddleware
from bot.telegram.routers import routers
from bot.telegram.sending import Responder
from bot.telegram.state import UnreadStateMiddleware
from core.ports import EscrowPort
from core.services.updates import UpdateLedger

log = logging.getLogger(__name__)
_RESPONSE_MODELS: list[type] = []


def keep_response_models() -> None:
    """aiogram parses every Bot API answer as ``Response[T]``; pydantic caches those generic
    classes weakly, so they are rebuilt (milliseconds each) after a garbage collection. Keep
    the ones this bot uses alive."""
    if _RESPONSE_MODELS:
        return
    for method in (
        m.SendMessage,
        m.SendPhoto,
        m.SendDocument,
        m.EditMessageText,
        m.EditMessageCaption,
        m.EditMessageMedia,
        m.EditMessageReplyMarkup,
        m.AnswerCallbackQuery,
        m.GetUpdates,
        m.GetMe,
        m.SetMyCommands,
        m.SetWebhook,
        m.DeleteWebhook,
    ):
        _RESPONSE_MODELS.append(Response[method.__returning__])


def webhook_secret(settings: object) -> str:
    """The secret Telegram sends with every webhook update: TELEGRAM_WEBHOOK_SECRET, or one
    derived from the bot token (the same in every process, unknown to anyone without it)."""
    configured = getattr(settings, "telegram_webhook_secret", None)
    if configured is not None:
        return configured.get_secret_value()
    token = settings.telegram_token.get_secret_value()  # type: ignore[attr-defined]
    return hashlib.sha256(b"rigshare-telegram-webhook:" + token.encode()).hexdigest()


def ledger_prefix(settings: object) -> str:
    """The Redis keys of this deployment's handled-once ledger: per bot (its id leads the
    token) and per database (a deployment is its database: two that share a Redis, e.g. a
    staging copy, never drop each other's updates)."""
    token = settings.telegram_token.get_secret_value()  # type: ignore[attr-defined]
    where = f"{settings.database_url}|{settings.database_schema or ''}"  # type: ignore[attr-defined]
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    return f"rigshare:once:{token.split(':', 1)[0]}:{digest}"


class TelegramServices(ChatFrontServices, Protocol):
    """What the Telegram front end is given (by ``bot/serve.py``), beyond any chat front end's."""

    updates: UpdateLedger  # updates handled once across processes, when there is no Redis
    escrow: EscrowPort  # its chain names the block explorer that receipts link to


class TelegramFrontEnd:
    """``await start()`` ... ``await stop()``; ``mount(web_app)`` adds the webhook route."""

    def __init__(
        self,
        app: TelegramServices,
        *,
        session: BaseSession | None = None,
        storage: BaseStorage | None = None,
        limiter: RateLimiter | None = None,
        send_limits: SendLimits | None = None,
        status_interval_s: float | None = None,
    ) -> None:
        s = app.settings
        if s.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.app, self.settings = app, s
        keep_response_models()
        if session is None and s.telegram_api_url:
            session = AiohttpSession(api=TelegramAPIServer.from_base(s.telegram_api_url))
        self.bot = Bot(s.telegram_token.get_secret_value(), session=session)
        self.redis = None
        if s.redis_url and (storage is None or limiter is None):
            from redis.asyncio import BlockingConnectionPool, Redis

            # a burst of webhook updates waits for a free connection instead of failing
            # (redis-py's default pool raises "Too many connections" past 100)
            pool = BlockingConnectionPool.from_url(s.redis_url, max_connections=64, timeout=20)
            self.redis = Redis.from_pool(pool)
        if storage is None and self.redis is not None:
            from aiogram.fsm.storage.redis import RedisStorage

            storage = RedisStorage(self.redis)
        rate, burst = s.telegram_rate_per_s, s.telegram_rate_burst
        if limiter is None:
            limiter = (
                RedisRateLimiter(self.redis, rate, burst)
                if self.redis is not None
                else MemoryRateLimiter(rate, burst)
            )
        # polling: Telegram hands each update to one getUpdates caller, and polling runs in
        # one process only (docs/production.md); webhooks may reach several processes
        self.rig = Dispatcher(app, sole_receiver=not s.telegram_webhook)
        self.responder = Responder(self.bot, username="")
        self.live = LiveStatus(
            self.bot, self.rig, interval_s=status_interval_s or s.telegram_status_refresh_s
        )
        self.identity = IdentityMiddleware(app.users)
        self.rate_limit = RateLimitMiddleware(limiter)
        self.tg = Tg(self.rig, self.responder, self.live, self.identity)
        # aiogram's FSM middleware, less its read of the state on every update (state.py)
        self.dp = AiogramDispatcher(storage=storage or MemoryStorage(), disable_fsm=True)
        fsm = self.dp.fsm
        self.dp.fsm = UnreadStateMiddleware(fsm.storage, fsm.events_isolation, fsm.strategy)
        self.dp.update.outer_middleware(self.dp.fsm)
        self.dp["tg"] = self.tg
        # first: an update waits for a slot before it touches the database at all
        self.dp.update.outer_middleware(AdmissionMiddleware(app.admission))
        # then: a duplicate costs one lookup only; in Redis when there is one (no database
        # writes per update), else in the database
        self.once = OnceMiddleware(
            RedisUpdateLedger(self.redis, app.clock.now, prefix=ledger_prefix(s))
            if self.redis is not None
            else app.updates
        )
        self.dp.update.outer_middleware(self.once)
        self.dp.update.outer_middleware(self.rate_limit)
        self.dp.update.outer_middleware(self.identity)
        self.dp.update.outer_middleware(LanguageMiddleware())
        self.dp.include_routers(*routers())
        self.notifier = TelegramNotifier(self.bot, self.responder)
        self.sender = OutboxSender(
            app.notifications,
            self.notifier,
            explorer=explorer_base(getattr(app.escrow, "chain_id", None)),
            limits=send_limits or TELEGRAM_LIMITS,
        )
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()

    @property
    def webhook(self) -> bool:
        return bool(self.settings.telegram_webhook)

    @property
    def webhook_url(self) -> str:
        return self.settings.public_url.rstrip("/") + self.settings.telegram_webhook_path

    def mount(self, web_app: web.Application) -> None:
        """Serve the webhook on the service's web application (before it starts)."""
        handler = GatedWebhook(
            self.app.admission,
            dispatcher=self.dp,
            bot=self.bot,
            secret_token=webhook_secret(self.settings),
        )
        handler.register(web_app, path=self.settings.telegram_webhook_path)

    async def prepare(self) -> None:
        """Learn the bot's name (for deep links) and register the command menus. Raises
        TelegramAPIError (a wrong token: TelegramUnauthorizedError)."""
        me = await self.bot.get_me()
        self.responder.username = me.username or ""
        await set_menu(self.bot)

    async def start(self, *, sender: bool = True) -> None:
        """Prepare, then receive updates (polling, or the webhook) and send the outbox.
        Raises ValueError for a webhook without https, TelegramAPIError from Telegram."""
        if self.webhook and not self.webhook_url.startswith("https://"):
            raise ValueError("TELEGRAM_WEBHOOK needs an https PUBLIC_URL (Telegram posts there)")
        await self.prepare()
        if self.webhook:
            await self.bot.set_webhook(
                self.webhook_url,
                secret_token=webhook_secret(self.settings),
                allowed_updates=self.dp.resolve_used_update_types(),
            )
        else:
            await self.bot.delete_webhook()
            self._tasks.append(
                asyncio.create_task(
                    self.dp.start_polling(
                        self.bot,
                        handle_signals=False,
                        close_bot_session=False,
                        polling_timeout=self.settings.telegram_polling_timeout_s,
                        tasks_concurrency_limit=self.settings.telegram_concurrency,
                    )
                )
            )
        if sender:
            self._tasks.append(asyncio.create_task(self.sender.run(self._stop)))

    async def stop(self) -> None:
        self._stop.set()
        if not self.webhook:
            with contextlib.suppress(RuntimeError):  # "polling is not started"
                await self.dp.stop_polling()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.live.close()
        await self.once.flush()
        try:
            await self.rig.talk.flush()
        except Exception:
            log.exception("pending questions not written at shutdown")
        await self.bot.session.close()
        if self.redis is not None:
            await self.redis.aclose()
