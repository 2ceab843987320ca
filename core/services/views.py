"""Plain DTOs that services return and renderers turn into text. No behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, and from where (credentials only go to private chats)."""

    user_id: int
    platform: str
    private_chat: bool = True
    lang: str = "en"


@dataclass(frozen=True, slots=True)
class MachineSpecsView:
    """The machine behind a listing as its agent measured it (None: not reported), and the
    instance one GPU of it gets (``share_*``; None without complete specs)."""

    cpu_model: str | None = None
    cpu_cores: int | None = None
    ram_mib: int | None = None
    disk_free_gib: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None
    net_down_mbps: int | None = None
    net_up_mbps: int | None = None
    share_cpu_millis: int | None = None
    share_ram_mib: int | None = None
    share_disk_gib: int | None = None
    backend: str | None = None  # container | simulated | None (SSH access only)


@dataclass(frozen=True, slots=True)
class OfferView:
    listing_id: int
    gpu_model: str
    gpu_name: str
    gpu_count: int  # the listing's GPUs in a search, the GPUs quoted in a quote
    vram_gb: int
    price_per_hour: int  # per GPU-hour
    total_per_hour: int
    region: str
    reliability_bps: int
    verified: bool
    machine_name: str = ""
    new_host: bool = False  # too little history for a score (core.domain.reliability)
    free_gpus: int = 0
    specs: MachineSpecsView = MachineSpecsView()


@dataclass(frozen=True, slots=True)
class InstanceView:
    """What a rental runs: the image (a template's or the renter's), ports, its limits."""

    image: str
    template: str | None
    jupyter: bool
    ports: tuple[int, ...]
    cpu_millis: int
    memory_mib: int
    disk_gib: int
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class TemplateOfferView:
    """One template name as the providers offer it, and the listings that offer it."""

    name: str
    title: str
    jupyter: bool
    listing_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TemplatesView:
    templates: tuple[TemplateOfferView, ...]
    model: str | None = None  # the GPU model asked about
    listing_id: int | None = None  # the listing asked about


@dataclass(frozen=True, slots=True)
class SearchPage:
    offers: tuple[OfferView, ...]
    page: int
    has_more: bool
    total_available: int
    sort: str


@dataclass(frozen=True, slots=True)
class QuoteView:
    rental_id: int
    offer: OfferView
    duration_s: int
    deposit: int
    fee_bps: int
    expires_at: int
    alternative_note: str | None = None
    instance: InstanceView | None = None


@dataclass(frozen=True, slots=True)
class PaymentPendingView:
    rental_id: int
    deposit: int
    url: str
    wc_uri: str | None
    expires_at: int
    summary: str


@dataclass(frozen=True, slots=True)
class RentalView:
    rental_id: int
    state: str
    gpu_name: str
    gpu_count: int
    price_per_hour: int
    deposit: int
    created_at: int
    started_at: int | None
    paid_until: int | None
    ended_at: int | None
    now: int
    cost_so_far: int
    remaining_s: int | None
    machine_name: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # per-minute samples of the rented GPUs, up to the last hour:
    # ((unix minute, ((load %, temp °C), ...)), ...) for the /status chart
    history: tuple[tuple[int, tuple[tuple[int, ...], ...]], ...] = ()
    gpu_uuids: tuple[str, ...] = ()  # exactly the GPUs the rental holds
    instance: InstanceView | None = None


@dataclass(frozen=True, slots=True)
class RentalRef:
    """A rental as a pick-list entry (Discord autocomplete): number, GPU and state."""

    rental_id: int
    gpu_name: str
    gpu_count: int
    state: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ReceiptView:
    rental_id: int
    gpu_name: str
    gpu_count: int
    state: str
    started_at: int | None
    ended_at: int | None
    seconds_billed: int
    price_per_hour: int
    deposit: int
    billed: int
    fee: int
    fee_bps: int
    provider_net: int
    refund: int
    tx_hashes: tuple[tuple[str, str], ...]  # (label, hash)
    rating: int | None = None
    refund_held: int = 0  # of ``refund``: parked by the escrow (the token refused it), unpaid


@dataclass(frozen=True, slots=True)
class ReceiptsView:
    receipts: tuple[ReceiptView, ...]
    csv: str | None = None


@dataclass(frozen=True, slots=True)
class MachineView:
    machine_id: int
    name: str
    region: str
    status: str
    gpus: tuple[str, ...]
    listings: tuple[tuple[int, str, int, str], ...]  # (listing id, gpu model, price/h, status)
    uptime_bps: int
    reliability_bps: int
    last_heartbeat_at: int | None
    current_rental_id: int | None
    new_host: bool = False  # too little history for a score (core.domain.reliability)


@dataclass(frozen=True, slots=True)
class AgentTokenView:
    machine_id: int
    machine_name: str
    token: str  # shown once
    command: str


@dataclass(frozen=True, slots=True)
class EarningsView:
    completed_rentals: int
    active_rentals: int
    gross: int
    fees: int
    net: int
    held: int = 0  # of ``net``: parked by the escrow (the token refused it), retried, unpaid
    # paid rentals that never ran on the provider's machine (refunded, nothing earned), counted
    # by why (provisioning.why_refunded's codes), most frequent first
    failed: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Notice:
    """A short confirmation ("Language set to English") with a message key and params."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EvidenceView:
    """One piece of dispute evidence about a rental, as recorded."""

    rental_id: int
    machine_id: int
    kind: str  # selftest | heartbeat_gap | ssh_log
    at: int
    received_at: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WalletView:
    """The user's proven wallet and its USDC balance (both None without one)."""

    address: str | None
    balance: int | None = None


@dataclass(frozen=True, slots=True)
class WalletLinkView:
    """A wallet request waiting for the user: link a wallet, or prove a payout wallet."""

    purpose: str  # connect | register
    request_id: str
    url: str  # the one-time signing page
    wc_uri: str | None  # a WalletConnect pairing to open in a wallet app (None: live session)
    expires_at: int
    summary: str
    rental_id: int | None = None  # connect: the quote confirmed once the wallet is linked
    address: str | None = None  # register: the payout address being proven


@dataclass(frozen=True, slots=True)
class SigningPageView:
    """A pending signature as the signing page shows it (``state``: pending|used|expired)."""

    token: str
    user_id: int
    state: str
    kind: str
    method: str  # eth_signTypedData_v4 | personal_sign
    payload: dict[str, Any]
    summary: str
    signer: str | None  # the address that must sign; None: any (a connect)
    expires_at: int
    lang: str = "en"  # the user's language
