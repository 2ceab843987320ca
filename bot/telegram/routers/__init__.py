"""One router per feature; ``fallback`` last (other commands, plain text in private chats)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers import fallback, groups, market, start


def routers() -> list[Router]:
    """Fresh routers (an aiogram router belongs to one dispatcher)."""
    return [
        start.router(),
        market.router(),
        *(groups.router(group) for group in groups.GROUPS),
        fallback.router(),
    ]
