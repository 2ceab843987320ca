"""Money as integer token base units (USDC: 6 decimals, "micro-USDC"). Never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.domain.catalogue import english

DECIMALS = 6
UNIT: int = 10**DECIMALS  # base units in one USDC
MAX_AMOUNT: int = 10**15  # one billion USDC: far above any rental, far below overflow anywhere

_AMOUNT_RE = re.compile(
    r"^\$?\s*(\d{1,12})(?:[.,](\d{1,6}))?\s*\$?(?:\s*(?:usdc|usd))?$", re.I | re.ASCII
)


class MoneyFormatError(ValueError):
    """Text is not an amount of USDC (``key``/``params``: its entry in the error catalogues,
    ``err.money.*`` in core/locales; the message is its English)."""

    def __init__(self, key: str, params: dict[str, object] | None = None) -> None:
        self.key = key
        self.params = dict(params or {})
        super().__init__(english(key, self.params))


def parse_usdc(text: str) -> int:
    """Parse "0.65", "$0.65", "0,65", "12 USDC" into base units; raise MoneyFormatError."""
    m = _AMOUNT_RE.match(text.strip())
    if not m:
        raise MoneyFormatError("money.not_amount", {"text": text})
    whole, frac = m.group(1), (m.group(2) or "")
    value = int(whole) * UNIT + int(frac.ljust(DECIMALS, "0"))
    if value > MAX_AMOUNT:
        raise MoneyFormatError("money.too_large", {"text": text})
    return value


def _split(amount: int) -> tuple[str, int, int]:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"money must be int base units, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), UNIT)
    return sign, whole, frac


# The one precision rule for every amount shown to a person (prices per hour and totals):
# an amount is never rounded (what is shown is exactly what the escrow moves, so a receipt's
# lines add up), it shows at least two decimals (cents), and amounts shown together (one
# list, one quote, one receipt) share the largest number of decimals any of them needs, so
# "$0.22" never stands next to "$0.3705" (it reads "$0.2200"). ``places_for`` picks that
# number; the front ends' formatting module (bot/common/formats.py) adds the language's
# decimal point and digit grouping.
MIN_PLACES = 2


def places_needed(amount: int) -> int:
    """Decimals that show ``amount`` exactly, at least MIN_PLACES: 650000 -> 2, 370500 -> 4."""
    _, _, frac = _split(amount)
    return max(MIN_PLACES, len(f"{frac:06d}".rstrip("0")))


def places_for(*amounts: int) -> int:
    """The shared number of decimals for amounts shown together (see the rule above)."""
    return max((places_needed(a) for a in amounts), default=MIN_PLACES)


def format_decimal(
    amount: int, places: int | None = None, *, point: str = ".", group: str = ","
) -> str:
    """``amount`` in USDC with ``places`` decimals (never fewer than it needs: nothing is
    rounded away), the whole part grouped by thousands: 1234500000 -> '1,234.50'."""
    sign, whole, frac = _split(amount)
    places = max(places or 0, places_needed(amount))
    digits = f"{frac:06d}"[:places].ljust(places, "0")
    return f"{sign}{whole:,}".replace(",", group) + point + digits


def format_usdc(amount: int, places: int | None = None) -> str:
    """A total in English: 12345678 -> '12.345678 USDC', 650000 -> '0.65 USDC'."""
    return f"{format_decimal(amount, places)} USDC"


def format_usd(amount: int, places: int | None = None) -> str:
    """A dollar amount in English: 650000 -> '$0.65', 1234567 -> '$1.234567'."""
    text = format_decimal(amount, places)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def format_price_per_hour(amount: int, places: int | None = None) -> str:
    """Price per GPU-hour in English: 650000 -> '$0.65/h'."""
    return f"{format_usd(amount, places)}/h"


@dataclass(frozen=True, slots=True)
class Shown:
    """An amount inside an error's parameters: its text is the English form, and a front end
    shows it in the reader's language (bot/common/formats.py). ``kind`` is "usdc" (a total),
    "usd" (a dollar amount) or "per_hour" (a price per GPU-hour)."""

    amount: int
    kind: str = "usdc"
    places: int | None = None  # shared with the amounts shown beside it (places_for)

    def __str__(self) -> str:
        if self.kind == "per_hour":
            return format_price_per_hour(self.amount, self.places)
        if self.kind == "usd":
            return format_usd(self.amount, self.places)
        return format_usdc(self.amount, self.places)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)
