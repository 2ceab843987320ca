"""A signature request: what the core asked a wallet to sign, and the rules of its answer.

A request is pending until it is signed, fails (the wallet refused, or never got it) or
expires; only a pending request changes, once. ``SignatureKind`` names what it is for; the
relay parameters of a rental's request are typed per kind (``relay_params``). What is stored
with a request (``payload``) is a JSON object that the mapping layer stores as text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from core.domain.errors import IllegalTransition


class SignatureKind(StrEnum):
    OPEN = "open"  # the renter's payment authorization: opens the escrow
    EXTEND = "extend"  # more prepaid time
    STOP = "stop"  # the renter's signed stop (stop and settle at once)
    DISPUTE = "dispute"  # the renter opens a dispute with the evidence hash
    CONNECT = "connect"  # proves a wallet address (no rental)
    REGISTER = "register"  # a provider's payout address (no rental)


class SignatureStatus(StrEnum):
    PENDING = "pending"
    SIGNED = "signed"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class OpenRelay:
    pass  # the rental's terms are the rental's own


@dataclass(frozen=True, slots=True)
class ExtendRelay:
    amount: int
    salt: str
    valid_before: int


@dataclass(frozen=True, slots=True)
class StopRelay:
    deadline: int


@dataclass(frozen=True, slots=True)
class DisputeRelay:
    evidence_hash: str
    deadline: int


RelayParams = OpenRelay | ExtendRelay | StopRelay | DisputeRelay


@dataclass(eq=False)
class PendingSignature:
    """A signature the core asked a wallet for; the answer is matched by ``token``."""

    token: str
    user_id: int
    kind: str  # a SignatureKind value
    # what is stored with the request (its relay parameters, the request itself, the
    # signature once signed); None only for a damaged row. Replaced whole, never changed in place
    payload: dict[str, Any] | None
    created_at: int
    expires_at: int
    rental_id: int | None = None
    status: str = SignatureStatus.PENDING.value
    request_key: str | None = None  # the chat request that asked (core/services/repeats.py)
    id: int | None = None

    @property
    def is_pending(self) -> bool:
        return self.status == SignatureStatus.PENDING

    def expired_at(self, now: int) -> bool:
        return self.expires_at < now

    def sign(self, now: int, signature: str | None = None) -> bool:
        """The wallet answered: signed, or expired when the answer came too late (False).
        A rental's signature is kept with the request (its relay can be made again).
        Raises IllegalTransition unless pending."""
        self._must_be_pending("signed")
        if self.expired_at(now):
            self.status = SignatureStatus.EXPIRED.value
            return False
        self.status = SignatureStatus.SIGNED.value
        if signature is not None:
            stored = {**self.params(), "signature": signature, "signed_at": now}
            self.payload = stored
        return True

    def fail(self) -> None:
        """The wallet refused, or the request never reached it. Raises IllegalTransition
        unless pending."""
        self._must_be_pending("failed")
        self.status = SignatureStatus.FAILED.value

    def expire(self) -> None:
        """Nobody answered in time. Raises IllegalTransition unless pending."""
        self._must_be_pending("expired")
        self.status = SignatureStatus.EXPIRED.value

    def params(self) -> dict[str, Any]:
        """What was stored with the request ({} for a damaged row or one that is no object)."""
        return dict(self.payload) if isinstance(self.payload, dict) else {}

    def relay_params(self) -> RelayParams | None:
        """The escrow's relay arguments of a rental's request, typed by its kind; None for a
        kind that is not relayed or stored parameters that do not fit it."""
        return relay_params(self.kind, self.params())

    def _must_be_pending(self, to: str) -> None:
        if not self.is_pending:
            raise IllegalTransition.keyed(
                "signatures.illegal_transition", status=self.status, to=to
            )


def relay_fields(params: RelayParams) -> dict[str, int | str]:
    """``params`` as they are stored with the request, the form ``relay_params`` reads back."""
    return asdict(params)


def relay_params(kind: str, stored: dict[str, Any]) -> RelayParams | None:
    """``kind``'s relay arguments from what was stored with its request (see above)."""
    try:
        if kind == SignatureKind.OPEN:
            return OpenRelay()
        if kind == SignatureKind.EXTEND:
            return ExtendRelay(
                int(stored["amount"]), str(stored["salt"]), int(stored["valid_before"])
            )
        if kind == SignatureKind.STOP:
            return StopRelay(int(stored["deadline"]))
        if kind == SignatureKind.DISPUTE:
            return DisputeRelay(str(stored["evidence_hash"]), int(stored["deadline"]))
    except (KeyError, TypeError, ValueError):
        return None
    return None
