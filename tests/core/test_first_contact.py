"""A new user's first messages handled at once (webhook updates in parallel, or by two
processes) become one user, not a crash on the unique (platform, external id)."""

from __future__ import annotations

import asyncio

from bot.bootstrap import build_app


async def test_concurrent_first_contacts_make_one_user(app, settings, clock):
    other = build_app(settings, clock=clock)  # a second process on the same database
    try:
        who = await asyncio.gather(
            *(
                svc.users.identify("telegram", "4242", "newbie", chat_id="4242")
                for svc in [app, other] * 8
            )
        )
    finally:
        await other.close()
    assert len({p.user_id for p in who}) == 1
    async with app.users.uow(readonly=True) as uow:
        user = await uow.users.by_external("telegram", "4242")
    assert (user.display_name, user.chat_id) == ("newbie", "4242")
