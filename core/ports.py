"""Ports: the roles the core needs from the outside world (typing.Protocol only).

Adapters implement them: ``contracts`` (escrow, wallet), ``bot/web`` (agents), the chat front
ends (notifier). The embedded default's stand-ins (development chain and wallets, the
in-memory chain, simulated agents) live outside the product in ``rigshare_dev``.
Results that arrive later (a wallet's signature, an agent's grant, a chain event) come back
through ``RentalEvents``, which ``core.services.signing.EventRouter`` implements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.domain.verification import ProbeLogin
from core.wire import AccessDetails, InstanceRequest


@runtime_checkable
class Clock(Protocol):
    def now(self) -> int:
        """Unix time in whole seconds."""
        ...


@dataclass(frozen=True, slots=True)
class RentalTerms:
    """What the renter's one signature commits to (ESCROW.md, "Rental terms")."""

    provider_address: str
    price_per_hour: int
    deposit: int
    listing_id: int
    quote_expiry: int
    salt: str  # 0x-prefixed 32-byte hex


@dataclass(frozen=True, slots=True)
class SignatureRequest:
    """Something the renter's wallet must sign, ready for WalletConnect or the signing page."""

    kind: str  # open | extend | stop | dispute | connect | register
    method: str  # eth_signTypedData_v4 | personal_sign
    payload: Mapping[str, Any]  # typed data (JSON-ready) or {"message": ..., "address": ...}
    summary: str  # one line a person can check against the wallet's screen
    escrow_id: str | None = None  # the rental id the contract will use, known before signing


@dataclass(frozen=True, slots=True)
class SigningLink:
    request_id: str  # the PendingSignature token (at least 128 random bits)
    url: str  # the one-time signing page {public_url}/sign/{request_id}
    wc_uri: str | None  # a WalletConnect pairing URI when a new pairing is needed
    expires_at: int


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One escrow log, identified by (tx_hash, log_index)."""

    tx_hash: str
    log_index: int
    block_number: int
    name: str  # RentalOpened, RentalStarted, ...
    escrow_id: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainReceipt:
    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[ChainEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class EscrowMinimums:
    """What the escrow refuses to open below (its owner may change them for new rentals):
    the deposit, and the prepaid time ``deposit * 3600 // price_per_hour`` in seconds."""

    min_deposit: int
    min_prepaid_seconds: int


class EscrowPort(Protocol):
    """The rental escrow contract. Every method raises PaymentError with user-facing text.

    Signed requests carry their own expiry (``valid_before``, ``deadline``): the service stores
    it with the pending signature and hands it back when the wallet answers. After a stop the
    rental is Ended; it settles when the renter signed ``stop_and_settle`` or, for the keeper,
    by ``finalize`` once ``challenge_window`` (or, while disputed, ``arbiter_timeout``) passed.
    """

    chain_id: int
    fee_bps: int
    challenge_window: int  # seconds after the end during which a dispute may be opened
    arbiter_timeout: int  # seconds the arbiter has before finalize applies the time-based bill

    async def prepare_open(self, terms: RentalTerms, renter: str) -> SignatureRequest: ...
    async def open(self, terms: RentalTerms, renter: str, signature: str) -> ChainReceipt: ...
    async def start(self, escrow_id: str) -> ChainReceipt: ...
    async def prepare_extend(
        self, escrow_id: str, renter: str, amount: int, salt: str, valid_before: int
    ) -> SignatureRequest: ...
    async def extend(
        self,
        escrow_id: str,
        renter: str,
        amount: int,
        salt: str,
        valid_before: int,
        signature: str,
    ) -> ChainReceipt: ...
    async def prepare_stop(self, escrow_id: str, renter: str, deadline: int) -> SignatureRequest:
        """The renter's signed stop that also settles at once (waives the challenge window)."""
        ...

    async def stop_and_settle(
        self, escrow_id: str, renter: str, signature: str, deadline: int
    ) -> ChainReceipt: ...
    async def stop_expired(self, escrow_id: str) -> ChainReceipt:
        """End an Active rental whose prepaid time ran out (anyone may, from paidUntil on)."""
        ...

    async def finalize(self, escrow_id: str) -> ChainReceipt:
        """Settle an Ended rental after the challenge window, a Disputed one after the arbiter
        timeout, or refund a Pending one after the accept timeout (time-based bill)."""
        ...

    async def cancel_pending(self, escrow_id: str) -> ChainReceipt: ...
    async def prepare_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int
    ) -> SignatureRequest: ...
    async def open_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int, signature: str
    ) -> ChainReceipt: ...
    async def resolve(self, escrow_id: str, provider_gross: int) -> ChainReceipt:
        """The arbiter's award on a Disputed rental (at most the time-based bill), before the
        arbiter timeout; raises PaymentError when it is refused or no arbiter key is set."""
        ...

    async def balance_of(self, address: str) -> int: ...
    async def minimums(self) -> EscrowMinimums:
        """The escrow's current minimums for new rentals, read from the contract and cached
        for a short while (the owner may change them); the last known ones when the node
        does not answer."""
        ...

    async def claimable(self, address: str) -> int:
        """What the escrow holds parked for ``address`` after refused transfers."""
        ...

    async def claim_for(self, address: str) -> ChainReceipt:
        """Pay ``address`` everything parked for it (``claimFor``; the platform pays gas).
        Dry-runs first: a refusal (the token still blocks the address, is paused, nothing
        is parked) raises PaymentRefused with the reason, and no gas is spent; PaymentError
        when the node fails."""
        ...


class WalletPort(Protocol):
    """The user's own wallet (WalletConnect, signing page). Every method raises WalletError."""

    async def connect(self, user_id: int, request_id: str, expires_at: int) -> SigningLink:
        """Start linking a wallet (a new pairing, replacing any old session of the user).
        When the wallet approves, the adapter calls
        ``RentalEvents.wallet_connected(user_id, request_id, address)``."""
        ...

    async def disconnect(self, user_id: int) -> None:
        """Forget the user's wallet session (and tell the wallet: wc_sessionDelete)."""
        ...

    async def request_signature(
        self, user_id: int, request_id: str, request: SignatureRequest, expires_at: int
    ) -> SigningLink:
        """Ask the wallet to sign; the answer arrives via RentalEvents.signature_received /
        signature_failed(request_id, reason). With a live session the request goes straight
        to the wallet (``SigningLink.wc_uri`` None); without one the adapter opens a new
        pairing (``wc_uri`` set) and sends the request as soon as that session settles."""
        ...


class SignatureVerifier(Protocol):
    """Recovers who signed a message. Never raises: None for a malformed or invalid signature."""

    def recover_message(self, message: str, signature: str) -> str | None:
        """The signer of an EIP-191 ``personal_sign`` over the UTF-8 ``message``."""
        ...

    def recover_typed_data(self, typed_data: Mapping[str, Any], signature: str) -> str | None:
        """The signer of EIP-712 ``typed_data`` (``eth_signTypedData_v4``)."""
        ...


class KeyPairFactory(Protocol):
    """Generates an SSH key pair for renters who have not set one with /sshkey."""

    async def generate(self, comment: str) -> tuple[str, str]:
        """Return (private key in OpenSSH format, public key line)."""
        ...


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """Run the rental's instance (exactly ``instance.gpu_uuids``) with ``public_key`` until
    ``expires_at``; a grant for a rental whose instance runs already moves its deadline.
    ``instance`` is None only for machines whose agent offers no instances (SSH access)."""

    rental_id: int
    machine_id: int
    public_key: str
    expires_at: int
    instance: InstanceRequest | None = None


@dataclass(frozen=True, slots=True)
class AccessInfo:
    """What the agent granted: SSH into the instance, published ports as (container port,
    host port), JupyterLab behind an SSH tunnel, the GPUs and image it runs."""

    username: str
    host: str
    port: int
    host_key_fingerprint: str
    ports: tuple[tuple[int, int], ...] = ()
    jupyter_port: int | None = None
    jupyter_token: str | None = None
    gpu_uuids: tuple[str, ...] = ()
    image: str | None = None

    @classmethod
    def of(cls, details: AccessDetails) -> AccessInfo:
        return cls(
            username=details.username,
            host=details.host,
            port=details.port,
            host_key_fingerprint=details.host_key_fingerprint,
            ports=tuple((p.container_port, p.host_port) for p in details.ports),
            jupyter_port=details.jupyter_port,
            jupyter_token=details.jupyter_token,
            gpu_uuids=tuple(details.gpu_uuids),
            image=details.image,
        )


class AgentGateway(Protocol):
    """Commands to provider agents; results arrive via RentalEvents. Raises AgentError."""

    async def grant(self, grant: AccessGrant) -> None: ...
    async def revoke(self, machine_id: int, rental_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Where the service logs in to check a probe instance, and the host key to insist on
    (the fingerprint the agent reported for it, pinned before anything is sent)."""

    host: str
    port: int
    username: str
    host_key_fingerprint: str


class HostProber(Protocol):
    """The service's own SSH login into a probe instance (its key, never the agent's)."""

    async def login(self, target: ProbeTarget, command: str) -> ProbeLogin:
        """Connect, refuse any host key but the pinned one, run ``command``; never raises
        for network or SSH failures: they come back in ``ProbeLogin.error``."""
        ...

    def public_key(self) -> str:
        """The service's public key line, for the probe instance's authorized_keys."""
        ...


class RentalEvents(Protocol):
    """Late results adapters hand back to the core (``core.services.signing.EventRouter``)."""

    async def signature_received(self, request_id: str, signature: str) -> None: ...
    async def signature_failed(self, request_id: str, reason: str) -> None: ...
    async def wallet_connected(self, user_id: int, request_id: str | None, address: str) -> None:
        """A wallet proved the user controls ``address`` (a settled WalletConnect session, or
        a personal_sign on the signing page); ``request_id`` is the connect request, if any."""
        ...

    async def wallet_disconnected(self, user_id: int, reason: str) -> None:
        """The wallet deleted the session or it expired; the next request pairs again."""
        ...

    async def access_granted(self, rental_id: int, access: AccessInfo) -> None: ...
    async def access_failed(self, rental_id: int, reason: str) -> None: ...
    async def chain_event(self, event: ChainEvent) -> None: ...


@runtime_checkable
class EventSource(Protocol):
    """A port whose adapter hands late results back (a wallet's signatures, an agent's
    grants). It is given the ``RentalEvents`` once the services exist: they need the port
    first, so the events cannot come through its constructor (``bot/bootstrap.py``)."""

    def bind(self, events: RentalEvents) -> None: ...


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    outbox_id: int
    user_id: int
    platform: str
    chat_id: str
    kind: str
    text: str
    private: bool  # holds a credential: private chats or DMs only
    attachments: Mapping[str, str] = field(default_factory=dict)  # file name -> text content
    buttons: tuple[tuple[str, str], ...] = ()  # (label, dispatcher action such as "extend:12")


class Notifier(Protocol):
    """Delivers outbox messages to one chat platform; raises on failure (retried later)."""

    platform: str

    async def deliver(self, message: OutgoingMessage) -> None: ...
