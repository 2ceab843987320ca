"""Host reliability score in basis points (0..10000), from objective evidence only.

score = 50 % uptime + 25 % rating + 25 % track record, where
- uptime is the heartbeat coverage of the last 30 days (seconds covered / seconds observed),
- rating is the average of 1..5 stars mapped to 0..10000 (no ratings: 8000),
- track record is completed / (completed + 4 * disputes lost) with a prior of 2 good rentals.
A host observed for less than a day with no finished rentals has too little evidence and gets
``NEW_HOST_SCORE`` (80.00 %), so new providers are neither buried nor promoted.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 30 * 86_400
MIN_OBSERVED_SECONDS = 86_400
NEW_HOST_SCORE = 8_000
DEFAULT_RATING_SCORE = 8_000
PRIOR_GOOD_RENTALS = 2
DISPUTE_WEIGHT = 4
HEARTBEAT_INTERVAL = 15
# A heartbeat covers this long: two missed beats mean offline.
HEARTBEAT_COVERAGE = 2 * HEARTBEAT_INTERVAL


@dataclass(frozen=True, slots=True)
class ReliabilityInputs:
    observed_seconds: int
    covered_seconds: int
    completed_rentals: int
    disputes_lost: int
    rating_sum: int  # sum of stars
    rating_count: int


def uptime_bps(covered: int, observed: int) -> int:
    if observed <= 0:
        return 0
    return min(10_000, covered * 10_000 // observed)


def rating_bps(rating_sum: int, rating_count: int) -> int:
    if rating_count <= 0:
        return DEFAULT_RATING_SCORE
    # (avg - 1) / 4 in bps, exact integer arithmetic on the sum
    return max(0, min(10_000, (rating_sum - rating_count) * 10_000 // (4 * rating_count)))


def track_record_bps(completed: int, disputes_lost: int) -> int:
    good = completed + PRIOR_GOOD_RENTALS
    return good * 10_000 // (good + DISPUTE_WEIGHT * disputes_lost)


def reliability_score(inp: ReliabilityInputs) -> int:
    """Score in bps; new hosts with little evidence get NEW_HOST_SCORE."""
    finished = inp.completed_rentals + inp.disputes_lost
    if inp.observed_seconds < MIN_OBSERVED_SECONDS and finished == 0:
        return NEW_HOST_SCORE
    up = uptime_bps(inp.covered_seconds, min(inp.observed_seconds, WINDOW_SECONDS))
    rating = rating_bps(inp.rating_sum, inp.rating_count)
    track = track_record_bps(inp.completed_rentals, inp.disputes_lost)
    return (up * 50 + rating * 25 + track * 25) // 100


def format_bps_percent(bps: int) -> str:
    """9876 -> '98.8%' (rounded half up with integers)."""
    tenths = (bps + 5) // 10
    return f"{tenths // 10}.{tenths % 10}%"
