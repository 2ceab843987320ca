"""/status, /stop, /extend, /receipts, /dispute, /rate and /connect."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.domain.durations import is_unit_word, parse_duration
from core.errors import GrammarError
from core.grammar.commands import (
    Command,
    Connect,
    Dispute,
    Extend,
    Rate,
    Receipts,
    Status,
    Stop,
)
from core.grammar.values import _REF, _free_text, _must_ref, _one_word_of, _q, _ref


def _optional_ref(cls: type[Status] | type[Stop]) -> Callable[[str], Command]:
    name = cls.name

    def parse_ref(args: str) -> Command:
        words = args.split()
        if len(words) > 1:
            raise GrammarError.keyed(
                "grammar.one_ref",
                name=name,
            )
        return cls(rental_ref=_must_ref(words[0], f"/{name} 12") if words else None)

    return parse_ref


def _extend(args: str) -> Extend:
    words, ref, rest = args.casefold().split(), None, []
    for i, word in enumerate(words):
        unit_follows = i + 1 < len(words) and is_unit_word(words[i + 1])
        # a bare number is a rental only in front ("/extend 12 2h"); "r12" and "#12" anywhere
        if ref is None and not unit_follows and (i == 0 or not word.isdigit()) and _ref(word):
            ref = _ref(word)
        else:
            rest.append(word)
    if not rest:
        raise GrammarError.keyed("grammar.extend_how_long")
    return Extend(duration_s=parse_duration(" ".join(rest)), rental_ref=ref)


def _receipts(args: str) -> Receipts:
    words = set(args.casefold().split())
    if words - {"csv", "export"}:
        raise GrammarError.keyed("grammar.receipts_args")
    return Receipts(export_csv=bool(words))


def _dispute(args: str) -> Dispute:
    words = args.split()  # a leading number is the rental: "/dispute 12 it rebooted"
    ref = _ref(words[0]) if words else None
    reason = _free_text(words[1:] if ref else words, "reason")
    return Dispute(rental_ref=ref, reason=reason)


_STAR_SIGNS = "★⭐*"
_STARS = re.compile(r"(\d{1,2})(?:/5|\*|★|⭐|stars?|sterne?)?", re.ASCII)
_STAR_WORDS = frozenset({"star", "stars", "stern", "sterne", "/5"})


def _stars(word: str) -> int | None:
    word = word.casefold().replace("\ufe0f", "")  # emoji presentation selector after ⭐
    if word and all(ch in _STAR_SIGNS for ch in word):
        return len(word)
    m = _STARS.fullmatch(word)
    return int(m.group(1)) if m else None


def stars(value: int | str) -> int:
    """1 to 5 stars from a number or "★★★"; raises GrammarError."""
    count = _stars(str(value))
    if count is None or not 1 <= count <= 5:
        raise GrammarError.keyed(
            "grammar.rate_range",
            token=_q(str(value)),
        )
    return count


def _rate(args: str) -> Rate:
    words, ref = args.split(), None
    if words and not words[0].isdigit() and _REF.fullmatch(words[0]):  # "r12", "#12"
        ref = _must_ref(words.pop(0), "/rate 12 5")
    elif len(words) > 1 and words[0].isdigit() and _stars(words[1]) is not None:  # "12 5"
        ref = _must_ref(words.pop(0), "/rate 12 5")
    if not words:
        raise GrammarError.keyed("grammar.rate_how_many")
    count = stars(words[0])
    rest = words[1:]
    if rest and rest[0].casefold() in _STAR_WORDS:
        rest = rest[1:]
    return Rate(rental_ref=ref, stars=count, comment=_free_text(rest, "comment"))


_CONNECT = {"switch": "switch", "change": "switch", "wechseln": "switch", "new": "switch"}
_CONNECT |= {"disconnect": "disconnect", "logout": "disconnect", "trennen": "disconnect"}


def _connect(args: str) -> Connect:
    return Connect(action=connect_action(args))


def connect_action(args: str) -> str | None:
    """None (link a wallet), "switch" or "disconnect" from the words after /connect."""
    return _one_word_of(args, _CONNECT, lambda: GrammarError.keyed("grammar.connect_args"))
