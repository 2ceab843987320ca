"""Wallet texts, platform-neutral: linking a wallet, payout proofs, payment requests and
the outbox messages wallets cause (linked, ended, expired, refused). Keys: ``pay.*``,
``connect.*``, ``register.*`` in bot/common/locales."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.common import formats
from bot.common.i18n import reason_text, t
from core.notifications.wallet import (
    ConfirmFailed,
    ConfirmTaken,
    PaymentFailed,
    PaymentRequested,
    PayoutUpdated,
    ProviderRegistered,
    RegisterRefused,
    RequestExpired,
    SignatureFailed,
    WalletConnected,
    WalletDisconnected,
)
from core.services.views import WalletLinkView, WalletView

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


def linked(lang: str, n: WalletConnected) -> str:
    return t(lang, "connect.linked", address=n.address)


def session_ended(lang: str, n: WalletDisconnected) -> str:
    return t(lang, "connect.session_ended", reason=n.reason)


def payment_requested(lang: str, n: PaymentRequested) -> str:
    text = t(
        lang,
        "pay.requested",
        deposit=formats.amount(lang, n.deposit),
        rental_id=n.rental_id,
        summary=n.summary,
        url=n.url,
        expires=_when(n.expires_at),
    )
    return text + ("\n" + t(lang, "pay.uri", uri=n.wc_uri) if n.wc_uri else "")


def confirm_taken(lang: str, n: ConfirmTaken) -> str:
    from bot.common.render import quote  # render imports this module

    text = t(lang, "pay.withdrawn" if n.withdrawn else "pay.taken")
    if n.next_best is not None:
        text += "\n" + t(lang, "pay.taken_next") + "\n" + quote(lang, n.next_best)
    return text


def confirm_failed(lang: str, n: ConfirmFailed) -> str:
    reason = reason_text(lang, reason_fields(n))
    return t(lang, "pay.confirm_failed", rental_id=n.rental_id, reason=reason)


def request_expired(lang: str, n: RequestExpired) -> str:
    if n.kind in RENTAL_KINDS:
        return t(lang, f"pay.expired_{n.kind}", rental_id=n.rental_id)
    return t(lang, "register.expired" if n.kind == "register" else "connect.expired")


def signature_failed(lang: str, n: SignatureFailed) -> str:
    """A refused signature; one for a rental's payment is said with the rental's words."""
    if n.kind == "open":
        return t(lang, "notify.signature_failed", rental_id=n.rental_id, reason=n.reason)
    if n.kind in ("connect", "register"):
        return t(lang, f"{n.kind}.failed", reason=n.reason)
    return t(lang, "pay.failed", reason=n.reason, rental_id=n.rental_id)


def provider_registered(lang: str, n: ProviderRegistered) -> str:
    return t(lang, "register.registered", address=n.address)


def payout_updated(lang: str, n: PayoutUpdated) -> str:
    return t(lang, "register.updated", address=n.address)


def register_refused(lang: str, n: RegisterRefused) -> str:
    if n.reason == "other_wallet":
        return t(lang, "register.other_wallet", signer=n.signer, address=n.address)
    key = "register.expired" if n.reason == "expired" else "register.invalid"
    return t(lang, key, address=n.address)


def reason_fields(n: ConfirmFailed | PaymentFailed) -> dict[str, object]:
    """A failure's reason as ``i18n.reason_text`` reads it."""
    return {"reason": n.reason, "reason_key": n.reason_key, "reason_params": n.reason_params}
