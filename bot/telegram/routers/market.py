"""Finding and renting: /gpus with paging and filter buttons, /rent, /templates, the quote buttons
(Confirm / Cheaper / Cancel), plus buttons whose action was kept in the chat's FSM data."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.telegram.context import Tg, where_of, where_of_query
from bot.telegram.keyboards import (
    ActCb,
    GpusCb,
    RentalCb,
    gpus_keyboard,
    gpus_text,
    recall,
)
from core import grammar as g
from core.errors import CoreError
from core.grammar.registry import BY_NAME, group_words
from core.services.views import Principal


def router() -> Router:
    r = Router(name="market")
    r.message.register(gpus, Command(*BY_NAME["gpus"].words))
    r.callback_query.register(gpus_page, GpusCb.filter())
    others = [w for w in group_words("market") if w not in BY_NAME["gpus"].words]
    r.message.register(market_command, Command(*others))
    r.callback_query.register(rental_button, RentalCb.filter())
    r.callback_query.register(kept_action, ActCb.filter())
    return r


async def gpus(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    try:
        cmd = g.parse(message.text or "")
    except CoreError:
        await tg.text(message, who, state)  # the grammar's answer, in the user's language
        return
    reply = await tg.rig.handle_command(who, cmd)
    keyboard = None
    if isinstance(cmd, g.Gpus) and not reply.error:
        keyboard = gpus_keyboard(who.lang, cmd, bool(reply.meta.get("has_more")))
    await tg.responder.reply(where_of(message, who), reply, state, keyboard)


async def gpus_page(
    query: CallbackQuery, callback_data: GpusCb, tg: Tg, who: Principal, lang: str
) -> None:
    try:
        cmd = g.parse(gpus_text(callback_data))
    except CoreError:
        await tg.expired(query, lang)
        return
    reply = await tg.rig.handle_command(who, cmd)
    if reply.error or not isinstance(cmd, g.Gpus) or query.message is None:
        await query.answer(reply.text[:200], show_alert=True)
        return
    keyboard = gpus_keyboard(lang, cmd, bool(reply.meta.get("has_more")))
    await tg.responder.edit(query.message, reply, None, keyboard)
    await query.answer()


async def market_command(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)  # /rent, /templates and their aliases


async def rental_button(
    query: CallbackQuery, callback_data: RentalCb, tg: Tg, who: Principal, state: FSMContext
) -> None:
    verb = callback_data.verb
    reply = await tg.rig.handle_action(who, f"{verb}:{callback_data.rental_id}")
    message = query.message if isinstance(query.message, Message) else None
    # refused, or nothing cheaper: the quote message and its buttons stay as they are
    if reply.error and (not reply.buttons or verb == "cheaper"):
        await query.answer(reply.text[:200], show_alert=True)
        return
    await query.answer()
    if message is not None and not reply.error and verb in ("cheaper", "cancel"):
        await tg.responder.edit(message, reply, state)  # the quote becomes the new one
        return
    if message is not None and verb == "confirm" and not reply.error:
        await message.edit_reply_markup(reply_markup=None)  # confirmed: no second press
    await tg.responder.reply(where_of_query(query, who), reply, state)


async def kept_action(
    query: CallbackQuery, callback_data: ActCb, tg: Tg, who: Principal, lang: str, state: FSMContext
) -> None:
    action = await recall(state, callback_data.token)
    if action is None:
        await tg.expired(query, lang)
        return
    await query.answer()
    reply = await tg.rig.handle_action(who, action)
    await tg.responder.reply(where_of_query(query, who), reply, state)
