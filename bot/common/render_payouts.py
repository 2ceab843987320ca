"""Texts about payouts the escrow holds because the token refused a transfer: the first
refusal (held, with the token's reason when known) and the payment after a retry. Keys:
``notify.payout_*`` and ``notify.refund_*`` in bot/common/locales."""

from __future__ import annotations

from bot.common import formats
from bot.common.i18n import Payload, catalogue, t
from core.domain.durations import format_duration
from core.services.notifications import DueMessage

KINDS = ("payout_held", "refund_held", "payout_paid", "refund_paid")


def outbox(m: DueMessage, lang: str) -> str | None:
    """The text of a held-payout message, or None for any other kind."""
    if m.kind not in KINDS:
        return None
    p = m.payload
    params = {"rental_id": p["rental_id"], "amount": formats.amount(lang, int(p["amount"]))}
    params["address"] = p.get("address") or "-"
    if m.kind.endswith("_held"):
        params["reason"] = _reason(lang, p)
        params["retry"] = format_duration(int(p.get("retry_s") or 60))
    else:
        tx = p.get("tx")
        params["tx"] = t(lang, "notify.paid_tx", tx=tx) if tx else ""
    return t(lang, f"notify.{m.kind}", **params)


def _reason(lang: str, p: Payload) -> str:
    """A known refusal in the reader's language, else the token's own words, else "none"."""
    key = f"notify.refusal.{p.get('reason_code')}"
    if p.get("reason_code") and key in catalogue("en"):
        return t(lang, key)
    return p.get("reason") or t(lang, "notify.reason_unknown")
