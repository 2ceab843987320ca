"""What a user is told about wallet requests: linked or ended sessions, payment requests
after a connect, signatures refused or expired, payout-address proofs."""

from __future__ import annotations

from dataclasses import dataclass

from core.notifications.codec import Notification, registered
from core.services.views import QuoteView

REASON_FIELDS = frozenset({"reason_key", "reason_params"})


@registered
@dataclass(frozen=True, slots=True)
class WalletConnected(Notification):
    KIND = "wallet_connected"

    address: str


@registered
@dataclass(frozen=True, slots=True)
class WalletDisconnected(Notification):
    KIND = "wallet_disconnected"

    reason: str = "-"


@registered
@dataclass(frozen=True, slots=True)
class PaymentRequested(Notification):
    """A quote confirmed right after the wallet was linked: the payment request."""

    KIND = "payment_requested"

    rental_id: int
    deposit: int
    summary: str
    url: str
    expires_at: int
    wc_uri: str | None = None


@registered
@dataclass(frozen=True, slots=True)
class ConfirmTaken(Notification):
    KIND = "confirm_taken"

    rental_id: int
    next_best: QuoteView | None = None
    withdrawn: bool = False  # the host took the listing off the market (not another renter)


@dataclass(frozen=True, slots=True)
class WithReason(Notification):
    """A failure's English ``reason``, and its catalogue key and parameters when it has one
    (``CoreError.as_reason``), so the reader gets it in their language."""

    OMIT_IF_NONE = REASON_FIELDS

    rental_id: int
    reason: str
    reason_key: str | None = None
    reason_params: dict[str, object] | None = None


@registered
@dataclass(frozen=True, slots=True)
class ConfirmFailed(WithReason):
    KIND = "confirm_failed"


@registered
@dataclass(frozen=True, slots=True)
class PaymentFailed(Notification):
    KIND = "payment_failed"
    OMIT_IF_NONE = REASON_FIELDS

    rental_id: int
    kind: str  # the signature kind: open, extend, stop, dispute
    reason: str
    reason_key: str | None = None
    reason_params: dict[str, object] | None = None


@registered
@dataclass(frozen=True, slots=True)
class RequestExpired(Notification):
    KIND = "request_expired"

    kind: str  # open, extend, stop, dispute, connect, register
    rental_id: int | None = None


@registered
@dataclass(frozen=True, slots=True)
class SignatureFailed(Notification):
    KIND = "signature_failed"

    kind: str
    rental_id: int | None = None
    reason: str = "-"


@registered
@dataclass(frozen=True, slots=True)
class ProviderRegistered(Notification):
    KIND = "provider_registered"

    address: str


@registered
@dataclass(frozen=True, slots=True)
class PayoutUpdated(Notification):
    KIND = "payout_updated"

    address: str


@registered
@dataclass(frozen=True, slots=True)
class RegisterRefused(Notification):
    KIND = "register_refused"

    address: str
    reason: str  # expired, invalid, other_wallet
    signer: str | None = None
