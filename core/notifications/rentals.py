"""What a renter is told about a rental: payment seen, access, deadlines, the end, receipts.

Amounts are micro-USDC, times unix seconds (the injected clock's)."""

from __future__ import annotations

from dataclasses import dataclass

from core.notifications.codec import Notification, registered
from core.services.views import ReceiptView


@registered
@dataclass(frozen=True, slots=True)
class PaymentSeen(Notification):
    KIND = "payment_seen"
    PRIVATE = False  # said where the rental was asked for: it holds nothing secret

    rental_id: int
    deposit: int
    tx: str


@registered
@dataclass(frozen=True, slots=True)
class PrivateKey(Notification):
    """A generated SSH key, held until the credentials go out and scrubbed once delivered."""

    KIND = "private_key"

    rental_id: int
    private_key: str


@registered
@dataclass(frozen=True, slots=True)
class CredentialsReady(Notification):
    """How to reach the rented instance (private chats only: it holds the Jupyter token).
    Rows written before instances existed lack the fields after ``key_generated``."""

    KIND = "credentials"

    rental_id: int
    username: str
    host: str
    port: int
    host_key_fingerprint: str
    paid_until: int
    key_generated: bool = False
    gpu_uuids: tuple[str, ...] = ()
    image: str | None = None
    ports: tuple[tuple[int, int], ...] = ()  # (container port, published port)
    jupyter_port: int | None = None
    jupyter_token: str | None = None
    instance: bool = False
    simulated: bool = False


@registered
@dataclass(frozen=True, slots=True)
class EndingSoon(Notification):
    KIND = "ending_soon"

    rental_id: int
    paid_until: int


@registered
@dataclass(frozen=True, slots=True)
class Extended(Notification):
    KIND = "extended"

    rental_id: int
    paid_until: int
    tx: str


@registered
@dataclass(frozen=True, slots=True)
class RentalEnded(Notification):
    KIND = "rental_ended"

    rental_id: int
    ended_at: int
    settle_by: int  # the end of the challenge window


@dataclass(frozen=True, slots=True)
class Settled(Notification):
    """A settlement with its receipt (the three kinds below differ in their headline)."""

    rental_id: int
    receipt: ReceiptView


@registered
@dataclass(frozen=True, slots=True)
class RentalSettled(Settled):
    KIND = "receipt"


@registered
@dataclass(frozen=True, slots=True)
class DisputeSettled(Settled):
    KIND = "dispute_resolved"


@registered
@dataclass(frozen=True, slots=True)
class Refunded(Settled):
    """Paid but never ran: the whole deposit back (or held by the escrow: receipt.refund_held)."""

    KIND = "refunded"


@registered
@dataclass(frozen=True, slots=True)
class DisputeOpened(Notification):
    KIND = "dispute_opened"

    rental_id: int
    tx: str
    ended_at: int | None = None  # rows queued before the notice carried the time


@dataclass(frozen=True, slots=True)
class DisputeDecision(Notification):
    rental_id: int
    billed: int
    provider_gross: int
    renter_credit: int


@registered
@dataclass(frozen=True, slots=True)
class DisputeDecided(DisputeDecision):
    KIND = "dispute_decided"


@registered
@dataclass(frozen=True, slots=True)
class ProviderDisputeDecided(DisputeDecision):
    KIND = "provider_dispute_decided"


@registered
@dataclass(frozen=True, slots=True)
class SetupFailed(Notification):
    KIND = "setup_failed"

    rental_id: int
    why: str  # core.domain.instances failure kind: image, gpu, start, selftest, other
    image: str | None = None


@registered
@dataclass(frozen=True, slots=True)
class SignatureExpired(Notification):
    KIND = "signature_expired"

    rental_id: int
