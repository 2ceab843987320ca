"""Notification texts: one function per notification type (core.notifications), chosen by
type through :data:`RENDERERS`, in the reader's language. Wallet texts live in
``wallet_render``, held payouts in ``render_payouts``, instance credentials in
``render_instances``; this module holds the rest and the registry of them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.common import formats, render_instances, render_payouts, wallet_render
from bot.common.formats import when
from bot.common.i18n import reason_text, t
from bot.common.render_receipts import receipt
from core.notifications import Notification
from core.notifications import providers as p
from core.notifications import rentals as r
from core.notifications import wallet as w
from core.services.base import gpu_name

Render = Callable[[str, Any, str | None], str]  # (lang, notification, explorer) -> text


def payment_seen(lang: str, n: r.PaymentSeen) -> str:
    deposit = formats.amount(lang, n.deposit)
    return t(lang, "notify.payment_seen", rental_id=n.rental_id, deposit=deposit)


def private_key(lang: str, n: r.PrivateKey) -> str:
    return t(lang, "notify.private_key", rental_id=n.rental_id)


def credentials(lang: str, n: r.CredentialsReady) -> str:
    if n.instance:
        return render_instances.credentials(lang, n, when(n.paid_until))
    key_note = t(lang, "notify.key_note", rental_id=n.rental_id) if n.key_generated else ""
    return t(
        lang,
        "notify.credentials",
        rental_id=n.rental_id,
        port=n.port,
        username=n.username,
        host=n.host,
        fingerprint=n.host_key_fingerprint,
        paid_until=when(n.paid_until),
        key_note=key_note,
    )


def ending_soon(lang: str, n: r.EndingSoon) -> str:
    return t(lang, "notify.ending_soon", rental_id=n.rental_id, paid_until=when(n.paid_until))


def extended(lang: str, n: r.Extended) -> str:
    return t(lang, "notify.extended", rental_id=n.rental_id, paid_until=when(n.paid_until))


def rental_ended(lang: str, n: r.RentalEnded) -> str:
    return t(
        lang,
        "notify.rental_ended",
        rental_id=n.rental_id,
        ended_at=when(n.ended_at),
        settle_by=when(n.settle_by),
    )


def settled(lang: str, n: r.Settled, explorer: str | None) -> str:
    """The headline of the settlement and its receipt, transactions linked to ``explorer``."""
    # a refund the token refused is held by the escrow: never say "refunded" then
    held = isinstance(n, r.Refunded) and n.receipt.refund_held > 0
    head = t(lang, f"notify.{n.KIND}{'_held' if held else ''}", rental_id=n.rental_id)
    return head + "\n" + receipt(lang, n.receipt, explorer)


def dispute_opened(lang: str, n: r.DisputeOpened) -> str:
    ended_at = when(n.ended_at)  # "-" for a notice queued before it carried the time
    return t(lang, "notify.dispute_opened", rental_id=n.rental_id, ended_at=ended_at)


def dispute_decided(lang: str, n: r.DisputeDecision) -> str:
    places = formats.places_for(n.billed, n.provider_gross, n.renter_credit)
    return t(
        lang,
        f"notify.{n.KIND}",
        rental_id=n.rental_id,
        billed=formats.amount(lang, n.billed, places),
        provider_gross=formats.amount(lang, n.provider_gross, places),
        renter_credit=formats.amount(lang, n.renter_credit, places),
    )


def signature_expired(lang: str, n: r.SignatureExpired) -> str:
    return t(lang, "notify.signature_expired", rental_id=n.rental_id)


def payment_failed(lang: str, n: w.PaymentFailed) -> str:
    reason = reason_text(lang, wallet_render.reason_fields(n))
    return t(lang, "notify.payment_failed", rental_id=n.rental_id, reason=reason)


def provider_rental(lang: str, n: p.ProviderRental) -> str:
    """Started, ended, paid or disputed: the rental on the provider's GPU."""
    net = n.provider_net
    return t(
        lang,
        f"notify.{n.KIND}",
        rental_id=n.rental_id,
        gpu=gpu_name(n.gpu_model),
        amount=formats.amount(lang, net) if net is not None else "-",
    )


def provider_refunded(lang: str, n: p.ProviderRefunded) -> str:
    why = n.why if n.why in ("setup", "never_started", "late_payment") else "other"
    return t(
        lang,
        "notify.provider_refunded",
        rental_id=n.rental_id,
        gpu=gpu_name(n.gpu_model),
        why=t(lang, f"notify.provider_why.{why}"),
    )


def grant_failed(lang: str, n: p.ProviderGrantFailed) -> str:
    return t(
        lang,
        "notify.provider_grant_failed",
        rental_id=n.rental_id,
        machine=n.machine,
        error=n.error,
    )


def probe_passed(lang: str, n: p.ProbePassed) -> str:
    return t(lang, "notify.provider_probe_passed", machine=n.machine)


def probe_failed(lang: str, n: p.ProbeFailed | p.ProbeUnchecked) -> str:
    return t(lang, f"notify.{n.KIND}", machine=n.machine, reason=n.reason)


def agent_offline(lang: str, n: p.AgentOffline) -> str:
    last_seen = when(n.last_seen)
    return t(lang, "notify.provider_agent_offline", machine=n.machine, last_seen=last_seen)


def _plain(fn: Callable[[str, Any], str]) -> Render:
    """A text that needs no explorer."""
    return lambda lang, n, explorer: fn(lang, n)


RENDERERS: dict[type[Notification], Render] = {
    r.PaymentSeen: _plain(payment_seen),
    r.PrivateKey: _plain(private_key),
    r.CredentialsReady: _plain(credentials),
    r.EndingSoon: _plain(ending_soon),
    r.Extended: _plain(extended),
    r.RentalEnded: _plain(rental_ended),
    r.RentalSettled: settled,
    r.DisputeSettled: settled,
    r.Refunded: settled,
    r.DisputeOpened: _plain(dispute_opened),
    r.DisputeDecided: _plain(dispute_decided),
    r.ProviderDisputeDecided: _plain(dispute_decided),
    r.SetupFailed: _plain(render_instances.setup_failed),
    r.SignatureExpired: _plain(signature_expired),
    w.WalletConnected: _plain(wallet_render.linked),
    w.WalletDisconnected: _plain(wallet_render.session_ended),
    w.PaymentRequested: _plain(wallet_render.payment_requested),
    w.ConfirmTaken: _plain(wallet_render.confirm_taken),
    w.ConfirmFailed: _plain(wallet_render.confirm_failed),
    w.PaymentFailed: _plain(payment_failed),
    w.RequestExpired: _plain(wallet_render.request_expired),
    w.SignatureFailed: _plain(wallet_render.signature_failed),
    w.ProviderRegistered: _plain(wallet_render.provider_registered),
    w.PayoutUpdated: _plain(wallet_render.payout_updated),
    w.RegisterRefused: _plain(wallet_render.register_refused),
    p.ProviderRentalStarted: _plain(provider_rental),
    p.ProviderRentalEnded: _plain(provider_rental),
    p.ProviderPaid: _plain(provider_rental),
    p.ProviderDisputeOpened: _plain(provider_rental),
    p.ProviderRefunded: _plain(provider_refunded),
    p.ProviderGrantFailed: _plain(grant_failed),
    p.ProbePassed: _plain(probe_passed),
    p.ProbeFailed: _plain(probe_failed),
    p.ProbeUnchecked: _plain(probe_failed),
    p.AgentOffline: _plain(agent_offline),
    p.PayoutHeld: _plain(render_payouts.held),
    p.RefundHeld: _plain(render_payouts.held),
    p.PayoutPaid: _plain(render_payouts.paid_after_hold),
    p.RefundPaid: _plain(render_payouts.paid_after_hold),
}


def text(n: Notification, lang: str, explorer: str | None = None) -> str:
    """The text of ``n`` in ``lang``. Raises KeyError for a type without a renderer."""
    return RENDERERS[type(n)](lang, n, explorer)
