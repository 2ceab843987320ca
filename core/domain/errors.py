"""The root of every expected failure, kept here so the domain stays stdlib-only.

``core.errors`` re-exports it and adds the service-level subclasses. The core raises an
error by catalogue key and parameters (``NotFound.keyed("rentals.no_rental", rental_id=7)``);
its texts, English and German, live in the error catalogues (``core/locales``, see
``core.domain.catalogue``), never in the code.
"""

from __future__ import annotations

from typing import NotRequired, Self, TypedDict

from core.domain.catalogue import english


class Reason(TypedDict):
    """A failure as a notification's ``reason`` fields (``CoreError.as_reason``); the key
    and its parameters only for an error raised by catalogue key."""

    reason: str
    reason_key: NotRequired[str]
    reason_params: NotRequired[dict[str, object]]


class CoreError(Exception):
    """Root of every expected failure; ``user_message`` is safe to show to the user.

    ``key`` and ``params`` name its text in the error catalogues (``err.<key>``), so a front
    end shows it in the user's language; ``user_message`` is the English entry, for logs,
    ``str(exc)`` and the fallback. The core raises with ``keyed(key, **params)`` only (a test
    holds it); an explicit ``user_message`` is for errors from outside the core whose text
    comes from elsewhere (a chain's revert reason).
    """

    code = "error"

    def __init__(
        self,
        user_message: str | None = None,
        *,
        hint: str | None = None,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        self.key = key
        self.params = dict(params or {})
        if user_message is None:
            if key is None:
                raise TypeError("a CoreError needs a catalogue key or a text")
            user_message = english(key, self.params)
        super().__init__(user_message)
        self.user_message = user_message
        self.hint = hint

    @classmethod
    def keyed(cls, key: str, /, **params: object) -> Self:
        """The error ``err.<key>`` of the catalogues with ``params`` (English ``user_message``)."""
        return cls(key=key, params=params)

    def __str__(self) -> str:
        return self.user_message if not self.hint else f"{self.user_message} {self.hint}"

    def as_reason(self, limit: int = 300) -> Reason:
        """The error as a notification's ``reason`` fields: the English text, and the
        catalogue key with its parameters so the recipient reads it in their language."""
        fields: Reason = {"reason": self.user_message[:limit]}
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

    def __init__(
        self, user_message: str | None = None, choices: list[str] | None = None, **kwargs: object
    ) -> None:
        super().__init__(user_message, **kwargs)  # type: ignore[arg-type]
        self.choices = list(choices or [])

    def among(self, choices: list[str]) -> Self:
        """This error offering ``choices`` (``AmbiguousChoice.keyed(...).among([...])``)."""
        self.choices = list(choices)
        return self
