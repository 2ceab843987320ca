"""Expected failures. Every subclass carries text that can be shown to a user as is: the
core raises them by catalogue key (``keyed``), their texts live in core/locales.

Adapters catch ``CoreError`` and render ``user_message``; anything else is a bug, logged with
its traceback, and the user sees a short generic reply with a reference id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.domain.errors import AmbiguousChoice, CoreError, GrammarError, IllegalTransition

if TYPE_CHECKING:  # only the annotation: a view is no part of what an error needs to exist
    from core.services.views import QuoteView

__all__ = [
    "AgentError",
    "AmbiguousChoice",
    "Conflict",
    "CoreError",
    "Forbidden",
    "GrammarError",
    "IllegalTransition",
    "JustTaken",
    "NoOffer",
    "NotFound",
    "PaymentError",
    "PaymentRefused",
    "RateLimited",
    "ValidationError",
    "WalletError",
]


class ValidationError(CoreError):
    """Input passed the grammar but breaks a rule (bounds, ownership, format)."""

    code = "invalid"


class NotFound(CoreError):
    code = "not_found"


class Forbidden(CoreError):
    code = "forbidden"


class Conflict(CoreError):
    """The action clashes with the current state (already rented, wrong state...)."""

    code = "conflict"


class NoOffer(CoreError):
    """No listing matches the filters."""

    code = "no_offer"


class JustTaken(Conflict):
    """The listing was taken by someone else a moment ago; ``next_best`` may hold an alternative."""

    code = "just_taken"

    def __init__(
        self,
        user_message: str | None = None,
        next_best: QuoteView | None = None,
        *,
        hint: str | None = None,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(user_message, hint=hint, key=key, params=params)
        self.next_best = next_best

    def offering(self, next_best: QuoteView | None) -> JustTaken:
        """This error offering ``next_best`` (``JustTaken.keyed(...).offering(view)``)."""
        self.next_best = next_best
        return self


class PaymentError(CoreError):
    """The escrow or wallet refused or failed; nothing was charged."""

    code = "payment"


class PaymentRefused(PaymentError):
    """The escrow or its token said no to a call (its dry run reverted); ``user_message`` is
    the reason. Unlike a node that did not answer, trying again helps only once something
    changed (a block lifted, a token unpaused)."""

    code = "payment_refused"


class WalletError(CoreError):
    code = "wallet"


class AgentError(CoreError):
    code = "agent"


class RateLimited(CoreError):
    code = "rate_limited"
