"""A terminal conversation whose printed output the test reads back."""

from __future__ import annotations

from typing import Any

from bot.terminal.chat import TerminalChat


class Window:
    """One terminal conversation whose output is kept: ``say`` returns the dispatcher's reply
    and everything printed while answering it."""

    def __init__(self, app: Any) -> None:
        self.lines: list[str] = []
        self.chat = TerminalChat(app, self.lines.append)

    async def say(self, user: str, line: str) -> tuple[Any, str]:
        self.lines.clear()
        reply = await self.chat.say(user, line)
        return reply, "\n".join(self.lines)
