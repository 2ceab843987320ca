"""The dispute decision: evidence -> down intervals -> award within the contract's bound."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.domain.billing import billed
from core.domain.disputes import decide, merge, outages_from

PRICE = 390_000  # 0.39 USDC per hour


def test_merge_unions_overlapping_and_drops_empty_intervals():
    assert merge([(5, 9), (0, 3), (2, 4), (9, 12), (20, 20)]) == [(0, 4), (5, 12)]


def test_service_silence_counts_after_the_grace_and_agent_gaps_only_with_lost_gpus():
    evidence = [
        ("heartbeat_gap", 200, {"source": "service", "from": 100, "to": 200, "silent_s": 100}),
        ("heartbeat_gap", 260, {"source": "service", "from": 240, "to": 260, "silent_s": 20}),
        ("heartbeat_gap", 500, {"source": "agent", "sent_at": 400, "queued_s": 30, "gpus_lost": 0}),
        ("heartbeat_gap", 700, {"source": "agent", "sent_at": 600, "queued_s": 45, "gpus_lost": 1}),
        ("selftest", 50, {"ok": True}),
    ]
    # 100..200 minus 30 s grace -> 130..200; the 20 s silence is within the grace; the agent's
    # buffered beats prove the host was up unless they reported a lost GPU
    assert outages_from(evidence, grace_s=30) == [(130, 200), (600, 645)]


def test_records_without_sound_numbers_are_left_out_and_reported():
    good = ("heartbeat_gap", 200, {"source": "service", "from": 100, "to": 200})
    evidence = [
        ("heartbeat_gap", 5, {"source": "service", "from": "yesterday", "to": 5}),
        good,
        ("heartbeat_gap", 5, {"source": "service", "from": True, "to": 5}),
        ("heartbeat_gap", 5, {"source": "service", "to": 5}),
        ("heartbeat_gap", 5, {"source": "service", "from": 1, "to": 2**70}),
        ("heartbeat_gap", 5, {"source": "agent", "sent_at": 1.5, "gpus_lost": 1}),
        ("heartbeat_gap", 5, {"source": "agent", "gpus_lost": float("nan")}),
        ("heartbeat_gap", 5, ["not", "an", "object"]),
    ]
    bad: list[int] = []
    assert outages_from(evidence, 30, on_bad=lambda i, exc: bad.append(i)) == [(130, 200)]
    assert bad == [0, 2, 3, 4, 5, 6, 7]


def test_an_outage_inside_the_rental_is_refunded_to_the_renter():
    d = decide(1_000, 1_000 + 3_600, PRICE, [(1_600, 1_900)])
    assert d.billed_seconds == 3_600 and d.outage_seconds == 300
    assert d.billed == PRICE
    assert d.provider_gross == billed(3_300, PRICE) == 357_500
    assert d.renter_credit == 32_500


def test_outages_outside_the_rental_do_not_count_and_overlaps_count_once():
    d = decide(1_000, 2_000, PRICE, [(0, 1_100), (1_050, 1_200), (1_900, 5_000)])
    assert d.outages == ((1_000, 1_200), (1_900, 2_000))
    assert d.outage_seconds == 300


def test_no_evidence_means_the_time_based_bill():
    d = decide(0, 7_200, PRICE, [])
    assert d.provider_gross == d.billed == 2 * PRICE and d.renter_credit == 0


@given(
    start=st.integers(0, 10**9),
    length=st.integers(0, 10**6),
    price=st.integers(0, 10**9),
    spans=st.lists(st.tuples(st.integers(0, 2 * 10**9), st.integers(0, 10**6)), max_size=8),
)
def test_the_award_never_exceeds_the_bill_and_never_goes_negative(start, length, price, spans):
    d = decide(start, start + length, price, [(s, s + n) for s, n in spans])
    assert 0 <= d.provider_gross <= d.billed == billed(length, price)
    assert 0 <= d.outage_seconds <= d.billed_seconds
