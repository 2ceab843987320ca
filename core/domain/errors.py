"""The root of every expected failure, kept here so the domain stays stdlib-only.

``core.errors`` re-exports it and adds the service-level subclasses.
"""

from __future__ import annotations


class CoreError(Exception):
    """Root of every expected failure; ``user_message`` is safe to show to the user."""

    code = "error"

    def __init__(self, user_message: str, *, hint: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.hint = hint

    def __str__(self) -> str:
        return self.user_message if not self.hint else f"{self.user_message} {self.hint}"


class IllegalTransition(CoreError):
    """A rental state change that the lifecycle does not allow."""

    code = "illegal_transition"


class GrammarError(CoreError):
    """A chat command could not be parsed; the message names the problem and the fix."""

    code = "grammar"


class AmbiguousChoice(GrammarError):
    """The input matches several things; the user must pick one of ``choices``."""

    code = "ambiguous"

    def __init__(self, user_message: str, choices: list[str]) -> None:
        super().__init__(user_message)
        self.choices = choices
