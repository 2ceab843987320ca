"""Listings: an offer of one or more GPUs of one model on one provider machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ListingStatus(StrEnum):
    AVAILABLE = "available"
    HELD = "held"  # a confirmed quote awaits payment
    RENTED = "rented"
    PAUSED = "paused"  # the provider paused it
    OFFLINE = "offline"  # the agent missed heartbeats
    SUSPENDED = "suspended"  # the agent reported a GPU different from the listing


class MachineStatus(StrEnum):
    PENDING = "pending"  # added, agent never seen
    ONLINE = "online"
    OFFLINE = "offline"
    PAUSED = "paused"


QUOTE_TTL_SECONDS = 5 * 60
PAYMENT_HOLD_SECONDS = 15 * 60
MIN_PRICE_PER_HOUR = 10_000  # $0.01/h
MAX_PRICE_PER_HOUR = 1_000_000_000  # $1000/h


def quote_score(price_per_hour: int, reliability_bps: int) -> int:
    """Lower is better: the price, inflated by unreliability.

    Effective price = price / reliability, so a host at 50 % costs as much as one twice as
    expensive at 100 %. Integer arithmetic; reliability floors at 1 % (the database stores it
    clamped the same way and ranks by the same expression).
    """
    return price_per_hour * 10_000 // max(100, reliability_bps)


SORTS = ("best", "price", "reliability", "vram")


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """Filters and paging for a listing search (built from /gpus or /rent arguments)."""

    model: str | None = None
    gpu_count: int | None = None
    min_vram_gb: int | None = None
    max_price_per_hour: int | None = None
    region: str | None = None
    min_reliability_bps: int | None = None
    verified_only: bool = False
    sort: str = "price"
    offset: int = 0
    limit: int = 10
    exclude_ids: frozenset[int] = field(default_factory=frozenset)
