"""Typed callback data and inline keyboards.

Every button of a ``Reply`` becomes one of three things: a URL button (signing links, only for
URLs Telegram accepts), a ``RentalCb`` (confirm / cheaper / cancel / extend / evidence of one
rental), or an ``ActCb`` whose action is kept in the chat's FSM data (longer actions such as
"text:/rent a100-80gb 3h", which do not fit the 64 bytes of callback data). /gpus pages carry
their query in ``GpusCb``.
"""

from __future__ import annotations

import functools
import secrets
from urllib.parse import urlsplit

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.common.dispatch import Button
from bot.common.i18n import t
from core import grammar as g

RENTAL_VERBS = frozenset({"confirm", "cheaper", "cancel", "extend", "evidence"})
MAX_STORED_ACTIONS = 20


class RentalCb(CallbackData, prefix="r"):
    verb: str
    rental_id: int


class ActCb(CallbackData, prefix="a"):
    token: str


class GpusCb(CallbackData, prefix="g"):
    page: int
    sort: str
    verified: bool
    filters: str  # the other /gpus filters, as the user could type them


def telegram_url(url: str) -> bool:
    """Telegram refuses URL buttons to loopback or non-web addresses (the text keeps them)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    return host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("127.")


async def markup(
    buttons: tuple[Button, ...], state: FSMContext | None
) -> InlineKeyboardMarkup | None:
    """The inline keyboard for a reply's buttons, one row of up to three."""
    row = []
    for b in buttons:
        verb, _, arg = b.action.partition(":")
        if verb == "url":
            if telegram_url(arg):
                row.append(InlineKeyboardButton(text=b.label, url=arg))
        elif verb in RENTAL_VERBS and arg.isdigit() and len(arg) <= 12:
            data = RentalCb(verb=verb, rental_id=int(arg)).pack()
            row.append(InlineKeyboardButton(text=b.label, callback_data=data))
        elif state is not None:
            token = await remember(state, b.action)
            row.append(InlineKeyboardButton(text=b.label, callback_data=ActCb(token=token).pack()))
    if not row:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[row[i : i + 3] for i in range(0, len(row), 3)])


async def remember(state: FSMContext, action: str) -> str:
    """Keep ``action`` in the chat's FSM data (Redis when configured) under a short token."""
    data = await state.get_data()
    actions: dict[str, str] = dict(data.get("actions", {}))
    token = secrets.token_hex(4)
    actions[token] = action
    while len(actions) > MAX_STORED_ACTIONS:
        actions.pop(next(iter(actions)))
    await state.update_data(actions=actions)
    return token


async def recall(state: FSMContext, token: str) -> str | None:
    return (await state.get_data()).get("actions", {}).get(token)


def gpus_text(cb: GpusCb) -> str:
    parts = ["/gpus", cb.filters, f"sort={cb.sort}", f"page={cb.page}"]
    if cb.verified:
        parts.append("verified")
    return " ".join(p for p in parts if p)


def filters_text(f: g.GpuFilters) -> str:
    """The filters of a /gpus command (without sort, page, verified) as the grammar reads them."""
    words = [f.model] if f.model else []
    if f.min_vram_gb is not None and f.min_vram_gb == f.max_vram_gb:
        words.append(f"vram={f.min_vram_gb}")
    else:
        if f.min_vram_gb is not None:
            words.append(f"vram>={f.min_vram_gb}")
        if f.max_vram_gb is not None:
            words.append(f"vram<={f.max_vram_gb}")
    if f.max_price_per_hour is not None:
        whole, frac = divmod(f.max_price_per_hour, 1_000_000)
        words.append(f"max={whole}.{frac:06d}".rstrip("0").rstrip("."))
    if f.region:
        words.append(f"region={f.region}")
    if f.min_reliability is not None:
        words.append(f"rel>={f.min_reliability}")
    return " ".join(words)


@functools.lru_cache(maxsize=1024)
def gpus_keyboard(lang: str, cmd: g.Gpus, has_more: bool) -> InlineKeyboardMarkup:
    """Paging (previous / next), sort order and the verified-only switch for a /gpus page.

    Built once for each (language, query, has_more): most renters page through the same few
    queries, and a keyboard is some twenty validated models. The markup is shared between
    the messages it is sent with, so nothing may change it after it is built."""
    f = cmd.filters
    base = filters_text(f)
    if len(GpusCb(page=cmd.page, sort=cmd.sort, verified=True, filters=base).pack()) > 64:
        base = f.model or ""  # keep what fits: the model

    def cb(page: int, sort: str, verified: bool) -> str:
        return GpusCb(page=page, sort=sort, verified=verified, filters=base).pack()

    rows: list[list[InlineKeyboardButton]] = []
    paging = []
    if cmd.page > 1:
        paging.append(
            InlineKeyboardButton(
                text=t(lang, "telegram.prev"),
                callback_data=cb(cmd.page - 1, cmd.sort, f.verified_only),
            )
        )
    if has_more:
        paging.append(
            InlineKeyboardButton(
                text=t(lang, "telegram.next"),
                callback_data=cb(cmd.page + 1, cmd.sort, f.verified_only),
            )
        )
    if paging:
        rows.append(paging)
    rows.append(
        [
            InlineKeyboardButton(
                text=("• " if s == cmd.sort else "") + t(lang, f"telegram.sort_{s}"),
                callback_data=cb(1, s, f.verified_only),
            )
            for s in g.SORTS
        ]
    )
    label = "telegram.all_gpus" if f.verified_only else "telegram.verified_only"
    rows.append(
        [
            InlineKeyboardButton(
                text=t(lang, label), callback_data=cb(1, cmd.sort, not f.verified_only)
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)
