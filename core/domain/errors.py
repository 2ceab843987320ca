"""The root of every expected failure, kept here so the domain stays stdlib-only.

``core.errors`` re-exports it and adds the service-level subclasses.
"""

from __future__ import annotations

from typing import Self


class CoreError(Exception):
    """Root of every expected failure; ``user_message`` is safe to show to the user.

    ``key`` and ``params`` name the same text in the front ends' message catalogues
    (``err.<key>``), so it can be shown in the user's language; ``user_message`` is the
    English text and the fallback. The core never renders other languages itself.
    """

    code = "error"

    def __init__(
        self,
        user_message: str,
        *,
        hint: str | None = None,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.hint = hint
        self.key = key
        self.params = dict(params or {})

    @classmethod
    def keyed(cls, key: str, template: str, **params: object) -> Self:
        """The error with English text ``template.format(**params)`` and catalogue ``key``."""
        return cls(template.format(**params), key=key, params=params)

    def __str__(self) -> str:
        return self.user_message if not self.hint else f"{self.user_message} {self.hint}"

    def as_reason(self, limit: int = 300) -> dict[str, object]:
        """The error as a notification's ``reason`` fields: the English text, and the
        catalogue key with its parameters so the recipient reads it in their language."""
        fields: dict[str, object] = {"reason": self.user_message[:limit]}
        if self.key:
            fields |= {"reason_key": self.key, "reason_params": _plain(self.params)}
        return fields


def _plain(params: dict[str, object]) -> dict[str, object]:
    """Parameters as JSON keeps them (an outbox payload): numbers and text, the rest as text."""
    return {k: v if isinstance(v, int | str) else str(v) for k, v in params.items()}


class IllegalTransition(CoreError):
    """A rental state change that the lifecycle does not allow."""

    code = "illegal_transition"


class GrammarError(CoreError):
    """A chat command could not be parsed; the message names the problem and the fix."""

    code = "grammar"


class AmbiguousChoice(GrammarError):
    """The input matches several things; the user must pick one of ``choices``."""

    code = "ambiguous"

    def __init__(self, user_message: str, choices: list[str], **kwargs: object) -> None:
        super().__init__(user_message, **kwargs)  # type: ignore[arg-type]
        self.choices = choices
