"""Durations: every accepted spelling, the bounds, and hostile input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.durations import (
    MAX_RENTAL_SECONDS,
    MIN_RENTAL_SECONDS,
    DurationError,
    describe,
    format_duration,
    is_unit_word,
    looks_like_duration,
    parse_duration,
    quote_input,
)

H, M, D = 3600, 60, 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3h", 3 * H),
        ("90m", 90 * M),
        ("1h30m", 90 * M),
        ("1h 30m", 90 * M),
        ("1.5h", 90 * M),
        ("1,5h", 90 * M),
        ("2d", 2 * D),
        ("3 hours", 3 * H),
        ("1 hour", H),
        ("45min", 45 * M),
        ("45 minutes", 45 * M),
        ("2 days", 2 * D),
        ("1w", 7 * D),
        ("1 week", 7 * D),
        ("3 Std", 3 * H),
        ("3 Std.", 3 * H),
        ("3 Stunden", 3 * H),
        ("1 Stunde", H),
        ("2 Tage", 2 * D),
        ("1 Tag", D),
        ("45 Min", 45 * M),
        ("90 Minuten", 90 * M),
        ("1 hour and 30 minutes", 90 * M),
        ("1 Stunde und 30 Minuten", 90 * M),
        ("1d, 2h", D + 2 * H),
        ("  3H  ", 3 * H),
        ("0.25h", 15 * M),
        (".5h", 30 * M),
        ("30d", MAX_RENTAL_SECONDS),
        ("10m", MIN_RENTAL_SECONDS),
        ("600s", 600),
        ("３h", 3 * H),
        ("3h\x00", 3 * H),  # control characters are dropped, never parsed
        ("1\u200bh", H),  # full-width digits, as Japanese keyboards type them
        ("1.0000000001h", H),  # decimals past the ninth are ignored
        ("0.3333333333h", 1199),  # floored to whole seconds: 1199.99999988 s
    ],
)
def test_accepted_spellings(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0h", "0h is too short — the minimum is 10 minutes"),
        ("5m", "5m is too short — the minimum is 10 minutes"),
        ("9m 59s", "9m 59s is too short — the minimum is 10 minutes"),
        ("-3h", "-3h: a duration can't be negative"),
        ("\u22123h", "\u22123h: a duration can't be negative"),
        ("999999d", "999999d is too long — the maximum is 30 days"),
        ("30d 1s", "30d 1s is too long — the maximum is 30 days"),
        (
            "99999999999999999999999h",
            "99999999999999999999999h is too long — the maximum is 30 days",
        ),
        ("abc", "'abc' is not a duration — try 3h, 90m or 1h30m"),
        ("3y", "'3y' is not a duration — try 3h, 90m or 1h30m"),
        ("3h,", "'3h,' is not a duration — try 3h, 90m or 1h30m"),
        ("3h and", "'3h and' is not a duration — try 3h, 90m or 1h30m"),
        ("h3", "'h3' is not a duration — try 3h, 90m or 1h30m"),
        ("1.2.3h", "'1.2.3h' is not a duration — try 3h, 90m or 1h30m"),
        ("3", "'3' has no unit — try 3h or 3m"),
        ("1,5", "'1,5' has no unit — try 1,5h or 1,5m"),
        ("", "How long? Try 3h, 90m or 1h30m."),
        ("   ", "How long? Try 3h, 90m or 1h30m."),
        ("٣h", "'٣h' is not a duration — try 3h, 90m or 1h30m"),  # only ASCII digits count
    ],
)
def test_rejections_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_custom_bounds() -> None:
    assert parse_duration("5m", min_seconds=60) == 300
    with pytest.raises(DurationError, match="the maximum is 2 hours"):
        parse_duration("3h", max_seconds=2 * H)


def test_huge_input_is_rejected_fast_and_echo_is_short() -> None:
    started = time.perf_counter()
    with pytest.raises(DurationError) as too_long:
        parse_duration("9" * 100_000 + "h")
    with pytest.raises(DurationError):
        parse_duration("1." + "9" * 100_000 + "x")
    assert parse_duration("1." + "0" * 100_000 + "h") == H
    assert time.perf_counter() - started < 1.0
    assert str(too_long.value) == "9" * 39 + "… is too long — the maximum is 30 days"


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3 * H, "3h"),
        (90 * M, "1h 30m"),
        (2 * D + 4 * H, "2d 4h"),
        (45 * M, "45m"),
        (59, "59s"),
        (0, "0s"),
        (H + M + 1, "1h 1m 1s"),
        (30 * D, "30d"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_max_parts_and_negative() -> None:
    assert format_duration(2 * D + 4 * H + 5 * M + 6, max_parts=2) == "2d 4h"
    assert format_duration(59, max_parts=0) == "59s"
    with pytest.raises(ValueError):
        format_duration(-1)


@given(st.integers(min_value=MIN_RENTAL_SECONDS, max_value=MAX_RENTAL_SECONDS))
@settings(max_examples=300, deadline=None)
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=60))
@settings(max_examples=400, deadline=None)
def test_arbitrary_text_only_raises_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert len(str(exc)) < 120  # echo is capped
    else:
        assert MIN_RENTAL_SECONDS <= seconds <= MAX_RENTAL_SECONDS


def test_describe_bounds() -> None:
    assert [describe(s) for s in (600, 30 * D, H, 1, 90)] == [
        "10 minutes",
        "30 days",
        "1 hour",
        "1 second",
        "90 seconds",
    ]


def test_token_helpers() -> None:
    assert looks_like_duration("1h30m") and looks_like_duration("-3h")
    assert looks_like_duration("0h") and not looks_like_duration("4090")
    assert not looks_like_duration("h100") and not looks_like_duration("3y")
    assert is_unit_word("Stunden") and is_unit_word("Std.") and not is_unit_word("x")


def test_quote_input_strips_controls_and_truncates() -> None:
    assert quote_input("a\x00b\u200bc\nd") == "abc d"
    assert quote_input("x" * 50) == "x" * 39 + "…"
    assert len(quote_input("y" * 10_000)) == 40
