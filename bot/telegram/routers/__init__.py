"""One router per feature; ``fallback`` last (other commands, plain text in private chats)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers import account, fallback, market, provider, rentals, start


def routers() -> list[Router]:
    """Fresh routers (an aiogram router belongs to one dispatcher)."""
    return [m.router() for m in (start, market, rentals, account, provider, fallback)]
