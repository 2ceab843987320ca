"""What every Telegram handler gets (as ``tg``): the application, the one command dispatcher,
the responder and the live /status messages; plus the handler steps they all share."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.common.dispatch import Dispatcher, Reply
from bot.common.i18n import t
from bot.telegram.live import LiveStatus
from bot.telegram.middlewares import IdentityMiddleware
from bot.telegram.sending import Responder, Where
from core import grammar as g
from core.services.views import Principal


@dataclass
class Tg:
    rig: Dispatcher
    responder: Responder
    live: LiveStatus
    identity: IdentityMiddleware

    async def run(
        self,
        message: Message,
        who: Principal,
        reply: Reply,
        state: FSMContext | None = None,
    ) -> Message | None:
        """Send a dispatcher reply for ``message``; /status replies keep updating."""
        where = where_of(message, who)
        sent = await self.responder.reply(where, reply, state)
        if sent is not None and reply.core_call == "rentals.status" and reply.meta.get("live"):
            self.live.follow(sent, who, int(reply.meta["rental_id"]))
        return sent

    async def text(
        self, message: Message, who: Principal, state: FSMContext | None = None
    ) -> Reply:
        """Parse, call one service and render (the shared Dispatcher), then send."""
        reply = await self.rig.handle_text(who, message.text or "")
        await self.run(message, who, reply, state)
        await self._evidence(message, who, reply, state)
        return reply

    async def command(
        self, message: Message, who: Principal, cmd: g.Command, state: FSMContext | None = None
    ) -> Reply:
        reply = await self.rig.handle_command(who, cmd)
        await self.run(message, who, reply, state)
        return reply

    async def _evidence(
        self, message: Message, who: Principal, reply: Reply, state: FSMContext | None
    ) -> None:
        """After a dispute, the evidence it will be decided on."""
        rental_id = reply.meta.get("rental_id")
        if reply.core_call == "rentals.dispute" and not reply.error and rental_id is not None:
            evidence = await self.rig.handle_action(who, f"evidence:{rental_id}")
            await self.run(message, who, evidence, state)

    async def expired(self, query: CallbackQuery, lang: str) -> None:
        await query.answer(t(lang, "telegram.expired"), show_alert=True)


def where_of(message: Message, who: Principal) -> Where:
    return Where(
        chat_id=message.chat.id,
        private=message.chat.type == "private",
        user_id=int(message.from_user.id) if message.from_user else message.chat.id,
        lang=who.lang,
    )


def where_of_query(query: CallbackQuery, who: Principal) -> Where:
    chat = query.message.chat if query.message else None
    return Where(
        chat_id=chat.id if chat else query.from_user.id,
        private=chat is None or chat.type == "private",
        user_id=query.from_user.id,
        lang=who.lang,
    )
