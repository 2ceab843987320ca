"""Numbers, amounts and percentages as a reader of ``lang`` writes them: the one place that
knows the decimal point and digit grouping of each language.

English: 1,234.50 USDC · $0.65/h · 98.8%. German: 1.234,50 USDC · 0,65 $/h · 98,8 %.
How many decimals an amount shows is one rule for both (core.domain.money.places_for):
money stays integer micro-USDC until this module writes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.domain.money import Shown, format_decimal, places_for

__all__ = [
    "amount",
    "count",
    "param",
    "percent_bps",
    "places_for",
    "price",
    "usd",
]

# (decimal point, thousands separator, space before a unit sign)
_STYLE = {"en": (".", ",", ""), "de": (",", ".", " ")}


def _style(lang: str) -> tuple[str, str, str]:
    return _STYLE.get(lang, _STYLE["en"])


def count(lang: str, n: int) -> str:
    """A whole number: 1,000 in English, 1.000 in German."""
    return f"{n:,}".replace(",", _style(lang)[1])


def _decimal(lang: str, micro: int, places: int | None) -> str:
    point, group, _ = _style(lang)
    return format_decimal(micro, places, point=point, group=group)


def amount(lang: str, micro: int, places: int | None = None) -> str:
    """A total in USDC: '1.95 USDC' / '1,95 USDC'."""
    return f"{_decimal(lang, micro, places)} USDC"


def usd(lang: str, micro: int, places: int | None = None) -> str:
    """A dollar amount: '$0.65' / '0,65 $' (German puts the sign after the number)."""
    text = _decimal(lang, micro, places)
    if lang == "de":
        return f"{text} $"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def price(lang: str, micro: int, places: int | None = None, per: str = "h") -> str:
    """A price per GPU-hour: '$0.65/h' / '0,65 $/h' (``per`` names the unit after the slash)."""
    return f"{usd(lang, micro, places)}/{per}"


def percent_bps(lang: str, bps: int, *, decimals: int = 1, trim: bool = False) -> str:
    """Basis points as a percentage, rounded half up: 9876 -> '98.8%' / '98,8 %'.
    ``trim`` drops zero decimals (a fee of 1200 bps reads '12%', 1250 '12.5%')."""
    point, _, space = _style(lang)
    scale = 10 ** (2 - decimals)
    units = (bps + scale // 2) // scale
    whole, frac = divmod(units, 10**decimals)
    text = f"{whole}{point}{frac:0{decimals}d}" if decimals else str(whole)
    if trim and decimals:
        text = text.rstrip("0").rstrip(point)
    return f"{text}{space}%"


def fee_percent(lang: str, bps: int) -> str:
    """A fee: 1200 bps -> '12%', 1250 -> '12.5%' ('12,5 %' in German)."""
    return percent_bps(lang, bps, decimals=2, trim=True)


def count_prefix(n: int) -> str:
    """'2x ' before a GPU name for several GPUs, nothing for one."""
    return f"{n}x " if n > 1 else ""


def when(ts: int | None) -> str:
    """A moment, the same in every language (unambiguous): '2026-12-07 10:00 UTC'."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def param(lang: str, value: object) -> object:
    """An error parameter as shown in ``lang``: amounts the core marked (``Shown``) get the
    language's form; anything else is left as it is."""
    if not isinstance(value, Shown):
        return value
    if value.kind == "per_hour":
        return price(lang, value.amount, value.places)
    if value.kind == "usd":
        return usd(lang, value.amount, value.places)
    return amount(lang, value.amount, value.places)
