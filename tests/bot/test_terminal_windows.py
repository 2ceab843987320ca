"""Two `rigshare chat` windows on one database: each prints its own user's notifications,
and each notification once, even when the outbox loop and a typed line flush together."""

from __future__ import annotations

import asyncio

from bot.terminal.chat import TerminalChat
from core.notifications.rentals import Extended
from core.services.base import enqueue


async def _notify(app, user_id: int, text_id: int) -> None:
    async with app.uow() as uow:
        await enqueue(
            uow,
            Extended(rental_id=text_id, paid_until=0, tx="0x"),
            user_id=user_id,
            dedupe_key=f"test:{user_id}:{text_id}",
            now=app.notifications.clock.now(),
        )
        await uow.commit()


async def test_each_window_prints_its_own_users_messages_once(app):
    alice_lines: list[str] = []
    bob_lines: list[str] = []
    alice_window = TerminalChat(app, alice_lines.append)
    bob_window = TerminalChat(app, bob_lines.append)
    alice = await alice_window.principal("alice")
    bob = await bob_window.principal("bob")
    await _notify(app, alice.user_id, 2)
    await _notify(app, bob.user_id, 7)

    # the outbox loop and a typed line flush at the same moment, in both windows
    await asyncio.gather(
        alice_window.flush(), alice_window.flush(), bob_window.flush(), bob_window.flush()
    )
    alice_text, bob_text = "\n".join(alice_lines), "\n".join(bob_lines)
    assert alice_text.count("#2") == 1 and "#7" not in alice_text, alice_text
    assert bob_text.count("#7") == 1 and "#2" not in bob_text, bob_text
