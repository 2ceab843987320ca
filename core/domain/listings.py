"""Listings: an offer of one or more GPUs of one model on one provider machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.domain.errors import IllegalTransition
from core.domain.instances import InstanceAsk


class ListingStatus(StrEnum):
    """Whether a listing is offered. Which of its GPUs are free is kept per GPU (a rental
    holds exactly its GPUs), so several renters can rent one listing's GPUs at once."""

    AVAILABLE = "available"  # offered; its free GPUs can be rented
    PAUSED = "paused"  # the provider paused it
    OFFLINE = "offline"  # the agent missed heartbeats
    SUSPENDED = "suspended"  # the agent reported a GPU different from the listing
    FAILING = "failing"  # a grant failed on its machine; back after the provider's /resume
    REMOVED = "removed"  # its machine was removed (/removemachine): never offered again


_L = ListingStatus
# Where a listing may go from each status (a move to the same status changes nothing). Removed
# is final: a removed machine's listings are kept only for its rentals' history.
LISTING_TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    _L.AVAILABLE: frozenset({_L.PAUSED, _L.OFFLINE, _L.SUSPENDED, _L.FAILING, _L.REMOVED}),
    _L.PAUSED: frozenset({_L.AVAILABLE, _L.SUSPENDED, _L.REMOVED}),
    _L.OFFLINE: frozenset({_L.AVAILABLE, _L.PAUSED, _L.SUSPENDED, _L.FAILING, _L.REMOVED}),
    _L.SUSPENDED: frozenset({_L.AVAILABLE, _L.PAUSED, _L.OFFLINE, _L.FAILING, _L.REMOVED}),
    _L.FAILING: frozenset({_L.AVAILABLE, _L.PAUSED, _L.SUSPENDED, _L.REMOVED}),
    _L.REMOVED: frozenset(),
}


def check_listing_move(current: str, new: str) -> ListingStatus:
    """``new`` if a listing may move there from ``current``; raise IllegalTransition if not."""
    try:
        src, dst = ListingStatus(current), ListingStatus(new)
    except ValueError as exc:
        raise IllegalTransition.keyed(
            "listings.unknown_status", current=repr(current), new=repr(new)
        ) from exc
    if dst != src and dst not in LISTING_TRANSITIONS[src]:
        raise IllegalTransition.keyed("listings.illegal_transition", src=src, dst=dst)
    return dst


class MachineStatus(StrEnum):
    PENDING = "pending"  # added, agent never seen
    ONLINE = "online"
    OFFLINE = "offline"
    PAUSED = "paused"
    FAILING = "failing"  # a grant failed here: off the market until the provider's /resume
    REMOVED = "removed"  # /removemachine: kept only for the rentals' history


QUOTE_TTL_SECONDS = 5 * 60
PAYMENT_HOLD_SECONDS = 15 * 60
MIN_PRICE_PER_HOUR = 10_000  # $0.01/h
MAX_PRICE_PER_HOUR = 1_000_000_000  # $1000/h
# Above this per GPU-hour, or more than PRICE_JUMP_FACTOR times the price a listing has now, a
# price is more likely a slip (cents, a total, a missing dot) than meant: the provider confirms
# it. The dearest catalogue GPU (H200) rents for a few dollars an hour.
PLAUSIBLE_PRICE_PER_HOUR = 20_000_000  # $20/h
PRICE_JUMP_FACTOR = 5
# /gpus counts its matches up to this many and then says "over": a count is a scan of every
# match, and a search that matches most of a large market must stay as fast as its page
COUNT_CAP = 1000


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
    """Filters and paging for a listing search (built from /gpus or /rent arguments).

    ``gpu_count`` is how many GPUs must be free on one listing (the count a renter rents);
    ``min_ram_gb``, ``min_disk_gb`` and ``min_cpu_cores`` filter on the share one GPU of the
    listing gets, ``min_cuda`` on the machine's CUDA version (``cuda_number``); ``instance``
    is what the renter wants to run (image or template, ports, disk), which only machines
    that offer it match.
    """

    model: str | None = None
    gpu_count: int | None = None
    listing_id: int | None = None
    min_vram_gb: int | None = None
    max_vram_gb: int | None = None
    max_price_per_hour: int | None = None
    region: str | None = None
    min_reliability_bps: int | None = None
    verified_only: bool = False
    sort: str = "price"
    offset: int = 0
    limit: int = 10
    exclude_ids: frozenset[int] = field(default_factory=frozenset)
    min_ram_gb: int | None = None
    min_disk_gb: int | None = None
    min_cpu_cores: int | None = None
    min_cuda: int | None = None
    instance: InstanceAsk = field(default_factory=InstanceAsk)
