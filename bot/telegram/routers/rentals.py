"""A running rental: /status (one live message), /extend, /stop, /rate, /receipts (CSV as a
document), /dispute (asks for the reason when none is given, then shows the evidence)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from bot.common.i18n import t
from bot.telegram.context import Tg
from core import grammar as g
from core.errors import CoreError
from core.services.views import Principal


class DisputeForm(StatesGroup):
    reason = State()


def router() -> Router:
    r = Router(name="rentals")
    r.message.register(
        rental_command, Command("status", "extend", "stop", "rate", "receipts", "receipt")
    )
    r.message.register(dispute, Command("dispute"))
    r.message.register(dispute_reason, DisputeForm.reason, F.text, ~F.text.startswith("/"))
    return r


async def rental_command(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)


async def dispute(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    try:
        cmd = g.parse(message.text or "")
    except CoreError:
        await tg.text(message, who, state)
        return
    if isinstance(cmd, g.Dispute) and cmd.reason is None:
        await state.set_state(DisputeForm.reason)
        await state.update_data(dispute_ref=cmd.rental_ref)
        await message.answer(t(who.lang, "telegram.dispute_ask"))
        return
    await _dispute(message, tg, who, cmd, state)


async def dispute_reason(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    ref = (await state.get_data()).get("dispute_ref")
    await state.set_state(None)
    cmd = g.Dispute(rental_ref=ref, reason=(message.text or "").strip()[: g.MAX_FREE_TEXT_CHARS])
    await _dispute(message, tg, who, cmd, state)


async def _dispute(
    message: Message, tg: Tg, who: Principal, cmd: g.Command, state: FSMContext
) -> None:
    reply = await tg.command(message, who, cmd, state)
    rental_id = reply.meta.get("rental_id")
    if not reply.error and rental_id is not None:
        evidence = await tg.rig.handle_action(who, f"evidence:{rental_id}")
        await tg.run(message, who, evidence, state)
