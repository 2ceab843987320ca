"""The marketplace in a terminal: the same commands, services and texts as the chat bots.

``rigshare chat --as alice`` talks as one user; ``--script FILE`` replays a conversation
(lines starting with ``@bob`` speak as another user, ``#`` lines are comments). Buttons show
as ``[Confirm] [Cheaper] [Cancel]``; typing a button's label presses it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Protocol

from bot.common import render
from bot.common.dispatch import Dispatcher, Reply
from bot.common.services import ChatServices
from core.services.notifications import NotificationService
from core.services.views import Principal

PLATFORM = "terminal"


class TerminalServices(ChatServices, Protocol):
    """What the terminal is given (by ``bot/serve.py``), beyond the dispatcher's services."""

    notifications: NotificationService  # the terminal prints its outbox messages itself

    async def settle(self) -> None:
        """Wait until simulated wallets and agents have answered."""
        ...


class TerminalChat:
    def __init__(self, app: TerminalServices, out: Callable[[str], None] = print) -> None:
        self.app = app
        self.dispatcher = Dispatcher(app)
        self.out = out
        self._buttons: dict[str, dict[str, str]] = {}  # per user: label -> action
        # who speaks in this window: only their messages are printed here (another
        # `rigshare chat --as bob` on the same database prints bob's)
        self._users: set[int] = set()

    async def principal(self, username: str) -> Principal:
        who = await self.app.users.identify(PLATFORM, username, username, chat_id=username)
        self._users.add(who.user_id)
        return who

    async def say(self, username: str, line: str) -> Reply:
        """Send one line as ``username``; print the reply and any notifications it caused."""
        who = await self.principal(username)
        line = line.strip()
        action = self._buttons.get(username, {}).get(line.lower())
        if action is not None and not action.startswith("url:"):
            reply = await self.dispatcher.handle_action(who, action)
        else:
            reply = await self.dispatcher.handle_text(who, line)
        self._show(username, reply)
        await self.flush()
        return reply

    def _show(self, username: str, reply: Reply) -> None:
        self.out(_indent(reply.text))
        labels = {b.label.lower(): b.action for b in reply.buttons}
        if reply.buttons:
            self.out("  " + "  ".join(f"[{b.label}]" for b in reply.buttons))
        self._buttons[username] = labels
        for name, content in reply.files:
            if isinstance(content, bytes):  # a picture (chart, QR code): name it only
                self.out(f"  --- {name} ({len(content):,} bytes) ---")
                continue
            self.out(f"  --- {name} ---")
            self.out(_indent(content.rstrip("\n")))

    async def flush(self) -> int:
        """Let simulated wallets and agents answer, then deliver due terminal messages."""
        await self.app.settle()
        sent = 0
        # claimed, not read: the outbox loop, a typed line and another window never print
        # one message twice (a claim is a compare-and-set on the row)
        notes = self.app.notifications
        mine = await notes.claim(PLATFORM, user_ids=self._users) if self._users else []
        for msg in await notes.claim("simulated") + mine:
            if msg.platform == PLATFORM:
                self.out(
                    f"  📨 to {msg.chat_id or msg.user_id}: "
                    + render.outbox(msg).replace("\n", "\n     ")
                )
                if msg.kind == "private_key":
                    self.out(_indent(str(msg.payload.get("private_key", "")).rstrip("\n")))
            await self.app.notifications.mark_sent(msg.outbox_id)
            sent += 1
        return sent

    async def run_script(self, lines: list[str], default_user: str) -> int:
        """Replay a conversation; return how many replies were errors."""
        errors = 0
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user = default_user
            if line.startswith("@"):
                user, _, line = line[1:].partition(" ")
            self.out(f"{user}> {line}")
            reply = await self.say(user, line)
            errors += reply.error
        return errors

    async def interactive(self, username: str) -> None:
        await self.principal(username)  # this window prints this user's messages
        self.out(f"rigshare terminal — you are '{username}'. /help lists commands, Ctrl-D quits.")
        while True:
            line = await asyncio.to_thread(_read, f"{username}> ")
            if line is None:
                return
            if line.strip():
                await self.say(username, line)


def _read(prompt: str) -> str | None:
    try:
        return input(prompt) if sys.stdin.isatty() else sys.stdin.readline() or None
    except EOFError:
        return None


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
