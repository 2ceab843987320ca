"""Value parsers every command shares: rental numbers, machine names, regions, prices."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from core.domain.durations import quote_input
from core.domain.money import parse_usdc
from core.domain.regions import must_region
from core.errors import GrammarError
from core.grammar.commands import COMMANDS, MAX_FREE_TEXT_CHARS, Command

# What a small number or a free text is: each names its refusal in the error catalogues
# (err.grammar.bad_int.<what, spaces as _> and err.grammar.text_too_long.<what>), so the choice
# is closed and a test finds every key.
IntWhat = Literal[
    "number of GPUs",
    "memory size",
    "reliability",
    "page",
    "disk size in GB",
    "number of CPU cores",
]
FreeTextWhat = Literal["reason", "comment"]

_REF = re.compile(r"(?:r|#|rental)?#?(\d{1,9})", re.ASCII | re.IGNORECASE)
_MACHINE = re.compile(r"[A-Za-z0-9_.-]{1,32}", re.ASCII)
_NUMBER = re.compile(r"[-\u2212]?\d+(?:[.,]\d+)?", re.ASCII)
_PRICE_SUFFIX = re.compile(r"(?:/(?:h|hr|hour|std)|(?<=\d)usdc?)$", re.ASCII)
_SMALL_INT = re.compile(r"\d{1,7}", re.ASCII)


def _q(text: str) -> str:
    return quote_input(text)


def _ref(token: str) -> str | None:
    m = _REF.fullmatch(token)
    return str(int(m.group(1))) if m and int(m.group(1)) > 0 else None


def _must_ref(token: str, example: str) -> str:
    ref = _ref(token)
    if ref is None:
        raise GrammarError.keyed(
            "grammar.not_ref",
            token=_q(token),
            example=example,
        )
    return ref


def _machine(token: str) -> str:
    if not _MACHINE.fullmatch(token):
        raise GrammarError.keyed(
            "grammar.not_machine",
            token=_q(token),
        )
    return token


def _region(token: str) -> str:
    """The region code a word names (core.domain.regions); unknown words list the codes."""
    return must_region(token)


def _price(token: str) -> int:
    """Micro-USDC per hour from "0.65", "$0.65", "0,65/h"; raises GrammarError or MoneyFormatError."""
    text = _PRICE_SUFFIX.sub("", token.casefold())
    if len(text) > 24:  # parse_usdc echoes its whole input
        raise GrammarError.keyed(
            "grammar.not_amount",
            token=_q(token),
        )
    amount = parse_usdc(text)
    if amount <= 0:
        raise GrammarError.keyed("grammar.price_zero", token=_q(token))
    return amount


def _small_int(token: str, low: int, high: int, what: IntWhat) -> int:
    if not _SMALL_INT.fullmatch(token) or not low <= int(token) <= high:
        raise GrammarError.keyed(
            f"grammar.bad_int.{what.replace(' ', '_')}",
            token=_q(token),
            low=low,
            high=high,
        )
    return int(token)


def _no_args(name: str) -> Callable[[str], Command]:
    def parse_none(args: str) -> Command:
        if args.strip():
            raise GrammarError.keyed("grammar.no_args", name=name)
        return COMMANDS[name]()

    return parse_none


def _free_text(words: list[str], what: FreeTextWhat) -> str | None:
    text = " ".join(words)
    if len(text) > MAX_FREE_TEXT_CHARS:
        raise GrammarError.keyed(f"grammar.text_too_long.{what}", limit=MAX_FREE_TEXT_CHARS)
    return text or None


def _one_word_of(
    args: str, meanings: dict[str, str], refusal: Callable[[], GrammarError]
) -> str | None:
    """What the one (case-folded) word in ``args`` means in ``meanings``; None for nothing
    given. An unknown word, or more than one, raises ``refusal()``."""
    words = args.casefold().split()
    meaning = meanings.get(words[0]) if len(words) == 1 else None
    if words and meaning is None:
        raise refusal()
    return meaning
