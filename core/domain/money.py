"""Money as integer token base units (USDC: 6 decimals, "micro-USDC"). Never a float."""

from __future__ import annotations

import re

DECIMALS = 6
UNIT = 10**DECIMALS  # base units in one USDC
MAX_AMOUNT = 10**15  # one billion USDC: far above any rental, far below overflow anywhere

_AMOUNT_RE = re.compile(
    r"^\$?\s*(\d{1,12})(?:[.,](\d{1,6}))?\s*\$?(?:\s*(?:usdc|usd))?$", re.I | re.ASCII
)


class MoneyFormatError(ValueError):
    """Text is not an amount of USDC (``key``/``params``: its catalogue entry, ``err.*``)."""

    def __init__(self, message: str, key: str | None = None, params: dict | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.params = params or {}


def parse_usdc(text: str) -> int:
    """Parse "0.65", "$0.65", "0,65", "12 USDC" into base units; raise MoneyFormatError."""
    m = _AMOUNT_RE.match(text.strip())
    if not m:
        raise MoneyFormatError(
            f"'{text}' is not an amount; write it like 0.65 or $0.65",
            "money.not_amount",
            {"text": text},
        )
    whole, frac = m.group(1), (m.group(2) or "")
    value = int(whole) * UNIT + int(frac.ljust(DECIMALS, "0"))
    if value > MAX_AMOUNT:
        raise MoneyFormatError(f"'{text}' is far too large", "money.too_large", {"text": text})
    return value


def _split(amount: int) -> tuple[str, int, int]:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"money must be int base units, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), UNIT)
    return sign, whole, frac


def format_usdc(amount: int) -> str:
    """Exact amount with all six decimals: 12345678 -> '12.345678 USDC'."""
    sign, whole, frac = _split(amount)
    return f"{sign}{whole}.{frac:06d} USDC"


def format_usd(amount: int, *, min_decimals: int = 2) -> str:
    """Short dollar form without losing precision: 650000 -> '$0.65', 1234567 -> '$1.234567'."""
    sign, whole, frac = _split(amount)
    digits = f"{frac:06d}".rstrip("0")
    if len(digits) < min_decimals:
        digits = digits.ljust(min_decimals, "0")
    return f"{sign}${whole}.{digits}"


def format_price_per_hour(amount: int) -> str:
    """Price per GPU-hour: 650000 -> '$0.65/h'."""
    return f"{format_usd(amount)}/h"
