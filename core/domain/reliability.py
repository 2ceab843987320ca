"""Host reliability score in basis points (0..10000), from objective evidence only.

score = 45 % uptime + 20 % rating + 20 % track record + 15 % response, where
- uptime is the heartbeat coverage of the last 30 days (seconds covered / seconds observed),
- rating is the average of 1..5 stars mapped to 0..10000 (no ratings: 8000),
- track record is completed / (completed + 4 * disputes lost) with a prior of 2 good rentals,
- response is the mean time from "funded" to "access granted" over the latest funded rentals
  (a rental that was never provisioned counts as ``RESPONSE_WORST_S``): full marks up to
  ``RESPONSE_BEST_S``, falling linearly to 0 at ``RESPONSE_WORST_S`` (no rentals yet: 8000).
A host observed for less than a day with no finished rentals has too little evidence and gets
``NEW_HOST_SCORE`` (80.00 %), so new providers are neither buried nor promoted.

Changed with the agent API (issue 4): the weights were 50/25/25 without a response component.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 30 * 86_400
MIN_OBSERVED_SECONDS = 86_400
NEW_HOST_SCORE = 8_000
DEFAULT_RATING_SCORE = 8_000
PRIOR_GOOD_RENTALS = 2
DISPUTE_WEIGHT = 4
DEFAULT_RESPONSE_SCORE = 8_000
RESPONSE_BEST_S = 60  # the agent grants and the chain confirms the start within a minute
RESPONSE_WORST_S = 600  # the accept timeout: a funded rental is refunded after this
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
    responses: int = 0  # funded rentals with a known response time
    response_seconds: int = 0  # their funded -> access granted seconds, each capped


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


def response_bps(responses: int, response_seconds: int) -> int:
    if responses <= 0:
        return DEFAULT_RESPONSE_SCORE
    mean = response_seconds // responses
    if mean <= RESPONSE_BEST_S:
        return 10_000
    span = RESPONSE_WORST_S - RESPONSE_BEST_S
    return max(0, (RESPONSE_WORST_S - mean) * 10_000 // span)


def response_seconds(funded_at: int, granted_at: int | None) -> int:
    """One rental's response time, capped at RESPONSE_WORST_S (never granted: the cap)."""
    if granted_at is None:
        return RESPONSE_WORST_S
    return max(0, min(RESPONSE_WORST_S, granted_at - funded_at))


def reliability_score(inp: ReliabilityInputs) -> int:
    """Score in bps; new hosts with little evidence get NEW_HOST_SCORE."""
    finished = inp.completed_rentals + inp.disputes_lost
    if inp.observed_seconds < MIN_OBSERVED_SECONDS and finished == 0:
        return NEW_HOST_SCORE
    up = uptime_bps(inp.covered_seconds, min(inp.observed_seconds, WINDOW_SECONDS))
    rating = rating_bps(inp.rating_sum, inp.rating_count)
    track = track_record_bps(inp.completed_rentals, inp.disputes_lost)
    response = response_bps(inp.responses, inp.response_seconds)
    return (up * 45 + rating * 20 + track * 20 + response * 15) // 100


def is_new_host(observed_seconds: int, score_bps: int) -> bool:
    """Whether a host's score is only the NEW_HOST_SCORE placeholder (observed less than
    MIN_OBSERVED_SECONDS, nothing finished): it is shown as "new", never as a percentage,
    because a percentage would claim evidence that does not exist yet."""
    return observed_seconds < MIN_OBSERVED_SECONDS and score_bps == NEW_HOST_SCORE


def format_bps_percent(bps: int) -> str:
    """9876 -> '98.8%' (rounded half up with integers)."""
    tenths = (bps + 5) // 10
    return f"{tenths // 10}.{tenths % 10}%"
