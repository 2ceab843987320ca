"""Wallet texts, platform-neutral: linking a wallet, payout proofs, payment requests and
the outbox messages wallets cause (linked, ended, expired, refused). Keys: ``pay.*``,
``connect.*``, ``register.*`` in bot/common/locales."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.common import formats
from bot.common.i18n import Payload, reason_text, t
from core.services.notifications import DueMessage
from core.services.views import (
    InstanceView,
    MachineSpecsView,
    OfferView,
    QuoteView,
    WalletLinkView,
    WalletView,
)

RENTAL_KINDS = ("open", "extend", "stop", "dispute")


def _when(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def how_to_sign(lang: str, wc_uri: str | None, url: str, expires_at: int) -> str:
    """How to answer a request: a new pairing (buttons, QR, the raw URI) or a live session
    (approve in the wallet), the signing page as the fallback, and when it all expires."""
    if wc_uri is None:
        return t(lang, "pay.live", url=url, expires=_when(expires_at))
    return (
        t(lang, "pay.pair", url=url, expires=_when(expires_at))
        + "\n"
        + t(lang, "pay.uri", uri=wc_uri)
    )


def link_request(lang: str, v: WalletLinkView) -> str:
    """A connect (maybe for a waiting quote) or a payout proof, with how to answer it."""
    if v.purpose == "register":
        head = t(lang, "register.start", address=v.address)
        return head + "\n" + how_to_sign(lang, v.wc_uri, v.url, v.expires_at)
    key = "connect.start_confirm" if v.rental_id is not None else "connect.start"
    text = t(lang, key, rental_id=v.rental_id, url=v.url, expires=_when(v.expires_at))
    return text + ("\n" + t(lang, "pay.uri", uri=v.wc_uri) if v.wc_uri else "")


def account(lang: str, v: WalletView) -> str:
    return t(
        lang, "connect.connected", address=v.address, balance=formats.amount(lang, v.balance or 0)
    )


def outbox(m: DueMessage, lang: str, quote_text: Callable[[str, QuoteView], str]) -> str | None:
    """The text of a wallet-related outbox message in ``lang``, or None for other kinds."""
    p = m.payload
    kind = m.kind
    if kind == "wallet_connected":
        return t(lang, "connect.linked", address=p["address"])
    if kind == "wallet_disconnected":
        return t(lang, "connect.session_ended", reason=p.get("reason", "-"))
    if kind == "payment_requested":
        text = t(
            lang,
            "pay.requested",
            deposit=formats.amount(lang, p["deposit"]),
            rental_id=p["rental_id"],
            summary=p["summary"],
            url=p["url"],
            expires=_when(p["expires_at"]),
        )
        return text + ("\n" + t(lang, "pay.uri", uri=p["wc_uri"]) if p.get("wc_uri") else "")
    if kind == "confirm_taken":
        text = t(lang, "pay.taken")
        nxt = p.get("next_best")
        if nxt:
            view = _stored_quote(nxt)
            text += "\n" + t(lang, "pay.taken_next") + "\n" + quote_text(lang, view)
        return text
    if kind == "confirm_failed":
        reason = reason_text(lang, p)
        return t(lang, "pay.confirm_failed", rental_id=p["rental_id"], reason=reason)
    if kind == "request_expired":
        what = p.get("kind")
        if what in RENTAL_KINDS:
            return t(lang, f"pay.expired_{what}", rental_id=p.get("rental_id"))
        return t(lang, "register.expired" if what == "register" else "connect.expired")
    if kind == "signature_failed" and p.get("kind") != "open":
        what, reason = p.get("kind"), p.get("reason", "-")
        if what in ("connect", "register"):
            return t(lang, f"{what}.failed", reason=reason)
        return t(lang, "pay.failed", reason=reason, rental_id=p.get("rental_id"))
    if kind in ("provider_registered", "payout_updated"):
        key = "register.registered" if kind == "provider_registered" else "register.updated"
        return t(lang, key, address=p["address"])
    if kind == "register_refused":
        refusal = p.get("reason")
        if refusal == "other_wallet":
            return t(lang, "register.other_wallet", signer=p["signer"], address=p["address"])
        key = "register.expired" if refusal == "expired" else "register.invalid"
        return t(lang, key, address=p["address"])
    return None


def _stored_quote(stored: Payload) -> QuoteView:
    """A QuoteView the service stored with ``dataclasses.asdict`` (then JSON): its nested
    views come back as dicts, tuples as lists."""
    offer = {**stored["offer"], "specs": MachineSpecsView(**stored["offer"].get("specs") or {})}
    instance = stored.get("instance")
    if instance is not None:
        instance = InstanceView(**{**instance, "ports": tuple(instance.get("ports", ()))})
    return QuoteView(**{**stored, "offer": OfferView(**offer), "instance": instance})
