"""What a provider is told: rentals on their machines, failed grants and checks, machines
gone offline; and what payees are told about payouts the escrow held (core.services.payouts)."""

from __future__ import annotations

from dataclasses import dataclass

from core.notifications.codec import Notification, registered


@dataclass(frozen=True, slots=True)
class ProviderRental(Notification):
    rental_id: int
    gpu_model: str
    provider_net: int | None = None  # known once settled


@registered
@dataclass(frozen=True, slots=True)
class ProviderRentalStarted(ProviderRental):
    KIND = "provider_rental_started"


@registered
@dataclass(frozen=True, slots=True)
class ProviderRentalEnded(ProviderRental):
    KIND = "provider_rental_ended"


@registered
@dataclass(frozen=True, slots=True)
class ProviderPaid(ProviderRental):
    KIND = "provider_payout"


@registered
@dataclass(frozen=True, slots=True)
class ProviderDisputeOpened(ProviderRental):
    KIND = "provider_dispute"


@registered
@dataclass(frozen=True, slots=True)
class ProviderRefunded(ProviderRental):
    """A paid rental that never ran; ``why``: core.services.provisioning.why_refunded."""

    KIND = "provider_refunded"

    why: str = "other"


@registered
@dataclass(frozen=True, slots=True)
class ProviderGrantFailed(Notification):
    KIND = "provider_grant_failed"

    rental_id: int
    machine: str
    error: str


@registered
@dataclass(frozen=True, slots=True)
class ProbePassed(Notification):
    KIND = "provider_probe_passed"

    machine: str


@registered
@dataclass(frozen=True, slots=True)
class ProbeFailed(Notification):
    KIND = "provider_probe_failed"

    machine: str
    reason: str = "-"


@registered
@dataclass(frozen=True, slots=True)
class ProbeUnchecked(Notification):
    KIND = "provider_probe_unchecked"

    machine: str
    reason: str = "-"


@registered
@dataclass(frozen=True, slots=True)
class AgentOffline(Notification):
    KIND = "provider_agent_offline"

    machine: str
    last_seen: int | None = None


@dataclass(frozen=True, slots=True)
class HeldPayment(Notification):
    """A payout or refund the token refused, parked by the escrow for ``address``."""

    rental_id: int
    amount: int
    address: str | None = None
    reason: str | None = None  # the token's own words, when known


@dataclass(frozen=True, slots=True)
class Held(HeldPayment):
    retry_s: int | None = None  # until the next try
    reason_code: str | None = None  # a known refusal (notify.refusal.*)


@dataclass(frozen=True, slots=True)
class PaidAfterHold(HeldPayment):
    tx: str | None = None


@registered
@dataclass(frozen=True, slots=True)
class PayoutHeld(Held):
    KIND = "payout_held"


@registered
@dataclass(frozen=True, slots=True)
class RefundHeld(Held):
    KIND = "refund_held"


@registered
@dataclass(frozen=True, slots=True)
class PayoutPaid(PaidAfterHold):
    KIND = "payout_paid"


@registered
@dataclass(frozen=True, slots=True)
class RefundPaid(PaidAfterHold):
    KIND = "refund_paid"
