"""Texts about payouts the escrow holds because the token refused a transfer: the first
refusal (held, with the token's reason when known) and the payment after a retry. Keys:
``notify.payout_*`` and ``notify.refund_*`` in bot/common/locales."""

from __future__ import annotations

from bot.common import formats
from bot.common.i18n import catalogue, t
from core.domain.durations import format_duration
from core.notifications.providers import Held, HeldPayment, PaidAfterHold


def held(lang: str, n: Held) -> str:
    """The first refusal: held by the escrow, with the reason and the next try."""
    return _text(lang, n, reason=_reason(lang, n), retry=format_duration(n.retry_s or 60))


def paid_after_hold(lang: str, n: PaidAfterHold) -> str:
    return _text(lang, n, tx=t(lang, "notify.paid_tx", tx=n.tx) if n.tx else "")


def _text(lang: str, n: HeldPayment, **more: str) -> str:
    """The kind's text with what every held payment says: rental, amount, address."""
    return t(
        lang,
        f"notify.{n.KIND}",
        rental_id=n.rental_id,
        amount=formats.amount(lang, n.amount),
        address=n.address or "-",
        **more,
    )


def _reason(lang: str, n: Held) -> str:
    """A known refusal in the reader's language, else the token's own words, else "none"."""
    key = f"notify.refusal.{n.reason_code}"
    if n.reason_code and key in catalogue("en"):
        return t(lang, key)
    return n.reason or t(lang, "notify.reason_unknown")
