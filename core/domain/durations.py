"""Rental durations: "3h", "1h 30m", "1,5h", "3 Stunden" -> whole seconds, and back to text.

Fractions are computed with integers only ("1.5h" is 15/10 hours) and the total is floored to
whole seconds; digits past the ninth decimal are ignored (they are worth under a millisecond).
"""

from __future__ import annotations

import re
import unicodedata

from core.domain.catalogue import english

MIN_RENTAL_SECONDS = 10 * 60
MAX_RENTAL_SECONDS = 30 * 24 * 3600

_UNITS: dict[str, int] = {}
for _seconds, _words in (
    (1, "s sec secs second seconds sek sekunde sekunden"),
    (60, "m min mins minute minutes minuten"),
    (3600, "h hr hrs hour hours std stunde stunden"),
    (86400, "d day days tag tage tagen"),
    (604800, "w wk wks week weeks woche wochen"),
):
    _UNITS.update(dict.fromkeys(_words.split(), _seconds))

_FRACTION_DIGITS = 9
_MAX_WHOLE_DIGITS = 9  # 10**9 seconds is 31 years: more digits can only be "too long"
_ECHO_CHARS = 40

# One "<number><unit>" part; the unit may carry a full stop ("3 Std.").
_PART = re.compile(r"(\d+(?:[.,]\d+)?|[.,]\d+)\s*([a-z]+)\.?", re.ASCII)
_SEPARATOR = re.compile(r"\s*(?:,\s*)?(?:(?:and|und|&)\s+)?", re.ASCII)
_BARE_NUMBER = re.compile(r"\d+(?:[.,]\d+)?", re.ASCII)
_NEGATIVE_SIGNS = "-\u2212\u2013"  # hyphen-minus, minus sign, en dash


class DurationError(ValueError):
    """Text is not a usable rental duration; the message names the problem and the fix.

    ``key``/``params`` name the text in the error catalogues (``err.duration.*``,
    core/locales); the message is its English."""

    def __init__(self, key: str, params: dict[str, object] | None = None) -> None:
        self.key = key
        self.params = dict(params or {})
        super().__init__(english(key, self.params))


def _fail(key: str, **params: object) -> DurationError:
    return DurationError(f"duration.{key}", params)


def quote_input(text: str, limit: int = _ECHO_CHARS) -> str:
    """User text made safe to echo: control characters dropped, at most ``limit`` characters."""
    cleaned = _visible(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _visible(text: str) -> str:
    """Text without control or invisible format characters, runs of whitespace as one space."""
    kept = (ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    return " ".join("".join(kept).split())


def _scan(text: str) -> list[tuple[str, int]] | None:
    """Split casefolded text into (number, unit seconds) parts; None if it is not that shape."""
    parts: list[tuple[str, int]] = []
    pos = 0
    while True:
        m = _PART.match(text, pos)
        if not m or m.group(2) not in _UNITS:
            return None
        parts.append((m.group(1), _UNITS[m.group(2)]))
        if m.end() == len(text):
            return parts
        separator = _SEPARATOR.match(text, m.end())
        pos = separator.end() if separator else m.end()


def is_unit_word(word: str) -> bool:
    """True for a time unit written on its own, as in "3 hours" or "2 Tage"."""
    return word.casefold().rstrip(".") in _UNITS


def looks_like_duration(text: str) -> bool:
    """True if ``text`` has the shape of a duration, whether or not it is within bounds."""
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    return _scan(folded.lstrip(_NEGATIVE_SIGNS)) is not None


def parse_duration(
    text: str, *, min_seconds: int = MIN_RENTAL_SECONDS, max_seconds: int = MAX_RENTAL_SECONDS
) -> int:
    """Seconds in ``text`` ("3h", "1h30m", "1.5h", "2 Tage"), floored to whole seconds.

    Raises DurationError for text that is not a duration, is negative, or lies outside
    [min_seconds, max_seconds].
    """
    raw = _visible(unicodedata.normalize("NFKC", text))
    shown = quote_input(raw)
    if not shown:
        raise _fail("empty")
    folded = raw.casefold()
    negative = folded[0] in _NEGATIVE_SIGNS
    parts = _scan(folded.lstrip(_NEGATIVE_SIGNS).lstrip())
    if parts is None:
        if _BARE_NUMBER.fullmatch(folded.lstrip(_NEGATIVE_SIGNS)):
            number = quote_input(folded.lstrip(_NEGATIVE_SIGNS), 12)
            raise _fail(
                "no_unit",
                text=shown,
                number=number,
            )
        raise _fail("not_duration", text=shown)
    if negative:
        raise _fail("negative", text=shown)
    if any(later >= earlier for (_, earlier), (_, later) in zip(parts, parts[1:], strict=False)):
        # "3h 2h" or "30m 1h" is more likely a typo than a sum
        raise _fail("order", text=shown)
    scale: int = 10**_FRACTION_DIGITS  # (int ** int is Any to a type checker)
    scaled_total = 0  # seconds * scale, exact
    for number, unit in parts:
        whole, _, fraction = number.replace(",", ".").partition(".")
        whole = whole.lstrip("0")
        if len(whole) > _MAX_WHOLE_DIGITS:  # never int() a huge digit string
            raise _too_long(shown, max_seconds)
        fraction = fraction[:_FRACTION_DIGITS].ljust(_FRACTION_DIGITS, "0")
        scaled_total += (int(whole or "0") * scale + int(fraction)) * unit
    seconds = scaled_total // scale
    if seconds < max(min_seconds, 1):
        raise _fail(
            "too_short",
            text=shown,
            limit=describe(min_seconds),
        )
    if seconds > max_seconds:
        raise _too_long(shown, max_seconds)
    return seconds


def _too_long(shown: str, max_seconds: int) -> DurationError:
    return _fail(
        "too_long",
        text=shown,
        limit=describe(max_seconds),
    )


_NAMES = ((86400, "day", "d"), (3600, "hour", "h"), (60, "minute", "m"), (1, "second", "s"))


def describe(seconds: int) -> str:
    """Words for a bound, in the largest unit that divides it: 600 -> "10 minutes"."""
    for size, word, _ in _NAMES:
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {word}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"


def format_duration(seconds: int, *, max_parts: int | None = None) -> str:
    """Short form: 10800 -> "3h", 5400 -> "1h 30m", 187200 -> "2d 4h", 59 -> "59s".

    ``max_parts`` keeps only the largest units (floored), e.g. for countdowns. Raises
    ValueError for negative input.
    """
    if seconds < 0:
        raise ValueError("a duration can't be negative")
    parts: list[str] = []
    rest = seconds
    for size, _, suffix in _NAMES:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{suffix}")
    if max_parts is not None:
        parts = parts[: max(1, max_parts)]
    return " ".join(parts) or "0s"
