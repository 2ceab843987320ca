"""Entities: plain dataclasses that ``core/db`` maps onto tables (imperative mapping).

Times are Unix seconds (int), money is micro-USDC (int). Ids are assigned by the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from core.domain.instances import InstanceRecord
from core.domain.listings import ListingStatus, MachineStatus, check_listing_move
from core.domain.rentals import RentalState, check_transition
from core.domain.signatures import PendingSignature  # noqa: F401  (an entity: mapped from here)
from core.domain.verification import Verification


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(entity: _Stored) -> int:
    """The id of an entity that came out of a repository: the database (or the in-memory unit
    of work) gave it one on flush, so ``None`` here is a bug, not bad input."""
    if entity.id is None:
        raise ValueError(f"{type(entity).__name__} has no id: it was never flushed")
    return entity.id


@dataclass(eq=False)
class User:
    """A chat identity; a wallet address makes it an account (no e-mail, no KYC)."""

    platform: str  # telegram | discord | terminal
    external_id: str
    display_name: str
    created_at: int
    lang: str = "en"
    wallet_address: str | None = None
    ssh_public_key: str | None = None
    chat_id: str | None = None  # where private messages go (DM channel / private chat)
    id: int | None = None


@dataclass(eq=False)
class Provider:
    user_id: int
    payout_address: str
    registered_at: int
    id: int | None = None


@dataclass(eq=False)
class Machine:
    provider_id: int
    name: str
    region: str
    agent_token_hash: str
    created_at: int
    status: str = MachineStatus.PENDING
    first_seen_at: int | None = None
    last_heartbeat_at: int | None = None
    covered_seconds: int = 0
    ssh_host: str | None = None
    ssh_port: int | None = None
    host_key_fingerprint: str | None = None
    # the GPUs as reported and their last metrics (JSON text in the row: the mapping layer
    # stores and reads it; replaced whole, never changed in place)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    agent_version: str | None = None
    # what the agent measured (core.wire.MachineSpecs); None where it could not
    cpu_model: str | None = None
    cpu_cores: int | None = None
    ram_mib: int | None = None
    disk_free_gib: int | None = None
    net_down_mbps: int | None = None
    net_up_mbps: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    cuda_number: int | None = None  # core.domain.instances.cuda_number, for filters
    gpu_total: int = 0  # GPUs present (the share of one GPU is 1/gpu_total of the machine)
    # the instance one GPU gets (share_limits(shape, 1)); None without complete specs
    share_cpu_millis: int | None = None
    share_ram_mib: int | None = None
    share_disk_gib: int | None = None
    # what the machine runs rentals as (core.wire.InstanceOffer); backend None: an agent
    # from before instances, whose grants carry no instance
    backend: str | None = None
    default_template: str | None = None
    custom_images: bool = False
    registries: str = ""  # allowed registries for custom images, space separated, lower case
    max_ports: int = 0
    offer: dict[str, Any] | None = None  # the offer as reported, to notice changes
    # the service's own probe (core.domain.verification): what its last pass verified, until
    # when, and when a provider's /resume asked for a probe that has not started yet
    verified_until: int | None = None
    verified: Verification | None = None  # stored as JSON text (core/db/json_text.py)
    probe_requested_at: int | None = None
    id: int | None = None


# what every heartbeat rewrites from the agent's measurements (core/services/machine_specs.py)
MACHINE_SPEC_FIELDS = (
    "cpu_model",
    "cpu_cores",
    "ram_mib",
    "disk_free_gib",
    "net_down_mbps",
    "net_up_mbps",
    "driver_version",
    "cuda_version",
    "cuda_number",
    "gpu_total",
    "share_cpu_millis",
    "share_ram_mib",
    "share_disk_gib",
)


@dataclass(eq=False)
class MachineGpu:
    """One GPU of a machine as its agent reports it. ``rental_id`` is the one rental that
    holds it (a hold until ``hold_until`` while unpaid, then until the rental ends)."""

    machine_id: int
    uuid: str
    idx: int
    name: str
    vram_mib: int | None = None
    gpu_model: str | None = None  # catalogue key; None for a GPU the catalogue lacks
    listing_id: int | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None
    present: bool = True  # False once the agent stops reporting it (or reports it lost)
    rental_id: int | None = None
    hold_until: int | None = None
    id: int | None = None


@dataclass(eq=False)
class MachineTemplate:
    """An image a machine offers renters by name (``/templates``)."""

    machine_id: int
    name: str
    image: str  # fully qualified (core.domain.instances.ImageRef.reference)
    title: str
    jupyter: bool = False


@dataclass(eq=False)
class Listing:
    machine_id: int
    provider_id: int
    gpu_model: str
    gpu_count: int
    vram_gb: int
    price_per_hour: int  # per GPU-hour
    region: str
    created_at: int
    verified: bool = False
    status: str = ListingStatus.AVAILABLE
    reliability_bps: int = 8_000
    free_gpus: int = 0  # present and held by no rental (kept by core/db/gpus.py)
    ready: bool = True  # its machine runs a rental without options (machine_ready)
    pcie_gen: int | None = None  # the slowest link of its GPUs
    pcie_width: int | None = None
    id: int | None = None

    def move_to(self, new: str) -> None:
        """Go to status ``new``; raise IllegalTransition where the listing table forbids it."""
        self.status = check_listing_move(self.status, new)


@dataclass(eq=False)
class Rental:
    renter_id: int
    listing_id: int
    provider_id: int
    machine_id: int
    gpu_model: str
    gpu_count: int  # GPUs rented (of the listing's)
    price_per_hour: int  # all rented GPUs, per hour (what the contract stores)
    duration_s: int
    deposit: int
    fee_bps: int
    created_at: int
    quote_expires_at: int
    state: str = RentalState.QUOTED
    reliability_bps: int = 0
    hold_until: int | None = None
    renter_address: str | None = None
    provider_address: str | None = None
    salt: str | None = None
    escrow_id: str | None = None
    funded_at: int | None = None
    started_at: int | None = None
    paid_until: int | None = None
    ended_at: int | None = None
    settled_at: int | None = None
    billed: int | None = None
    fee: int | None = None
    provider_net: int | None = None
    refund: int | None = None
    open_tx: str | None = None
    start_tx: str | None = None
    stop_tx: str | None = None
    settle_tx: str | None = None
    access_username: str | None = None
    access_host: str | None = None
    access_port: int | None = None
    host_key_fingerprint: str | None = None
    public_key: str | None = None
    key_generated: bool = False
    cancel_reason: str | None = None
    dispute_reason: str | None = None
    dispute_outcome: str | None = None  # provider | renter | split
    rating: int | None = None
    rating_comment: str | None = None
    access_granted_at: int | None = None
    disputed_at: int | None = None
    # the GPUs held (UUIDs, set when the quote is confirmed) and what runs on them (the
    # instance record: image, template, ports, jupyter, limits, disk asked; set when quoted).
    # Stored as JSON text by the mapping layer; replaced whole, never changed in place.
    gpu_uuids: list[str] = field(default_factory=list)
    instance: InstanceRecord | None = None
    # what the agent granted beyond SSH: published ports ([[container, host], ...]), Jupyter
    access_ports: list[list[int]] | None = None
    jupyter_port: int | None = None
    jupyter_token: str | None = None
    # the chat request that made this quote (core/services/requests.py): the same request
    # handled again after a crash finds it instead of quoting twice
    request_key: str | None = None
    id: int | None = None

    def transition(self, new: RentalState | str) -> None:
        """Move to ``new``; raise IllegalTransition if the lifecycle forbids it."""
        self.state = check_transition(self.state, new)

    def billable_seconds(self, now: int | None = None) -> int:
        """The seconds the rental bills, as the escrow counts them: from its start to its end,
        never past what the deposit paid for (``min(ended_at, paid_until)``). One that still
        runs counts to ``now`` (0 without it); one that never started bills nothing."""
        if self.started_at is None:
            return 0
        end = self.ended_at if self.ended_at is not None else now
        if end is None:
            return 0
        if self.paid_until is not None:
            end = min(end, self.paid_until)
        return max(0, end - self.started_at)


@dataclass(eq=False)
class OutboxMessage:
    """A message that must not be lost; written in the same transaction as its cause."""

    user_id: int
    kind: str
    # the notification as core.notifications.to_payload gives it (stored as JSON text by the
    # mapping layer); None only for a damaged row, whose text is not JSON
    payload: dict[str, Any] | None
    dedupe_key: str
    created_at: int
    next_attempt_at: int
    private: bool = True
    attempts: int = 0
    sent_at: int | None = None
    last_error: str | None = None
    claimed_until: int | None = None  # a sender's lease: nobody else sends it before then
    id: int | None = None


@dataclass(eq=False)
class ChainEventRecord:
    tx_hash: str
    log_index: int
    block_number: int
    name: str
    escrow_id: str
    args: dict[str, Any]  # as decoded from the log (stored as JSON text, for the record)
    applied_at: int
    id: int | None = None


@dataclass(eq=False)
class HeldPayout:
    """A payment the escrow could not push (the token refused the transfer: a blocklisted
    recipient, a paused token) and parked in ``claimable[address]`` (its ``PushFailed`` event).

    ``claimFor(address)`` pays everything parked for the address at once, so a payout is paid
    when a ``Claimed`` event for its address follows it on chain (``paid_*``). Until then the
    keeper retries the claim (``attempts``, ``next_try_at``); ``reason`` is the token's last
    refusal as a person can read it, when known.
    """

    rental_id: int
    user_id: int  # who is told: the provider's or the renter's chat user
    role: str  # provider | renter
    address: str  # the recipient, lower-case 0x hex
    amount: int
    tx_hash: str  # of the PushFailed event: its chain position orders it against claims
    log_index: int
    block_number: int
    held_at: int
    next_try_at: int
    status: str = "held"  # held | paid
    attempts: int = 0
    reason: str | None = None
    paid_at: int | None = None
    paid_tx: str | None = None
    id: int | None = None


@dataclass(eq=False)
class Setting:
    """Small persistent key/value (chain cursor, leader ids...)."""

    key: str
    value: str


@dataclass(eq=False)
class AgentCommandRecord:
    """A grant or revoke queued for one machine's agent; done once its result arrived."""

    machine_id: int
    seq: int
    kind: str  # grant | revoke
    rental_id: int
    payload: dict[str, Any]  # what the agent is told (the mapping layer stores it as JSON)
    created_at: int
    expires_at: int  # a command not run by then is stale
    delivered_at: int | None = None
    result: dict[str, Any] | None = None  # the agent's result as it sent it (without evidence)
    done_at: int | None = None
    id: int | None = None


@dataclass(eq=False)
class MachineProbe:
    """One probe of a machine by the service (core.domain.verification.ProbeStatus): the
    GPUs it asked for, what the agent answered (its access details, JSON) and the verdict.
    Its id is the ``rental_id`` of its ``probe``/``unprobe`` agent commands."""

    machine_id: int
    status: str
    gpu_uuids: list[str]
    created_at: int
    answer: dict[str, Any] | None = None
    finished_at: int | None = None
    reason: str | None = None
    seen_fingerprint: str | None = None
    ended: bool = False  # the unprobe command was queued
    id: int | None = None


@dataclass(eq=False)
class EvidenceRecord:
    """One piece of dispute evidence about a rental (kind: selftest | heartbeat_gap | ssh_log)."""

    machine_id: int
    rental_id: int
    kind: str
    at: int
    received_at: int
    data: dict[str, Any] | None  # None only for a damaged row (stored data that is not JSON)
    command_id: int | None = None
    id: int | None = None


@dataclass(eq=False)
class WalletSession:
    """A user's WalletConnect link: a pairing in progress or a settled session.

    ``secret`` is the encrypted key material (never the raw keys); ``pending`` holds the
    signature requests in flight with their JSON-RPC ids, so answers still match after a restart.
    """

    user_id: int
    status: str  # pairing | active
    topic: str  # the session topic (active) or the pairing topic
    secret: str
    expiry: int  # the pairing's or the session's
    created_at: int
    updated_at: int
    pairing_topic: str | None = None
    address: str | None = None
    chain_id: int | None = None
    peer_name: str | None = None
    pending: dict[str, Any] = field(default_factory=dict)  # JSON text in the row
    id: int | None = None
