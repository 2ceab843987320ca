"""The one command grammar behind every chat front end: "/rent 4090 3h" -> RentArgs(...).

``parse`` takes a whole message, ``parse_args`` a command name and its argument text (Discord
slash commands). Both return a frozen ``Command`` or raise GrammarError (AmbiguousChoice when a
GPU name fits several models); the message names the problem and the fix. Input is NFKC-
normalised first, so full-width "４０９０ ３h" reads as "4090 3h"; control characters are dropped
and user text is echoed at most 40 characters long.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from core.domain.durations import (
    DurationError,
    is_unit_word,
    looks_like_duration,
    parse_duration,
    quote_input,
)
from core.domain.gpus import lookup, resolve_gpu
from core.domain.money import MoneyFormatError, parse_usdc
from core.errors import GrammarError

MAX_INPUT_CHARS = 1000
MAX_SSHKEY_INPUT_CHARS = 4096  # an 8192-bit RSA public key alone is about 1,400 characters
MAX_GPUS_PER_RENTAL = 8
MAX_FREE_TEXT_CHARS = 500  # dispute reasons and rating comments
SORTS = ("price", "reliability", "vram")


@dataclass(frozen=True)
class Command:
    """A parsed chat command; ``name`` is its canonical name without the slash."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Start(Command):
    name: ClassVar[str] = "start"


@dataclass(frozen=True)
class Help(Command):
    name: ClassVar[str] = "help"
    topic: str | None = None  # a canonical command name


@dataclass(frozen=True)
class GpuFilters:
    model: str | None = None  # canonical GPU key
    min_vram_gb: int | None = None
    max_price_per_hour: int | None = None  # micro-USDC
    region: str | None = None
    min_reliability: int | None = None  # percent, 0..100
    verified_only: bool = False


@dataclass(frozen=True)
class Gpus(Command):
    name: ClassVar[str] = "gpus"
    filters: GpuFilters = GpuFilters()
    sort: str = "price"
    page: int = 1


@dataclass(frozen=True)
class RentArgs(Command):
    name: ClassVar[str] = "rent"
    model: str  # canonical GPU key
    duration_s: int
    max_price_per_hour: int | None = None  # micro-USDC
    region: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Status(Command):
    name: ClassVar[str] = "status"
    rental_ref: str | None = None


@dataclass(frozen=True)
class Extend(Command):
    name: ClassVar[str] = "extend"
    duration_s: int
    rental_ref: str | None = None


@dataclass(frozen=True)
class Stop(Command):
    name: ClassVar[str] = "stop"
    rental_ref: str | None = None


@dataclass(frozen=True)
class Receipts(Command):
    name: ClassVar[str] = "receipts"
    export_csv: bool = False


@dataclass(frozen=True)
class Dispute(Command):
    name: ClassVar[str] = "dispute"
    rental_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Rate(Command):
    name: ClassVar[str] = "rate"
    rental_ref: str | None
    stars: int
    comment: str | None = None


@dataclass(frozen=True)
class Connect(Command):
    name: ClassVar[str] = "connect"
    action: str | None = None  # None (link a wallet), "switch" or "disconnect"


@dataclass(frozen=True)
class SshKey(Command):
    name: ClassVar[str] = "sshkey"
    public_key: str | None = None  # one validated OpenSSH line: "<type> <base64> [comment]"


@dataclass(frozen=True)
class Lang(Command):
    name: ClassVar[str] = "lang"
    lang: str | None = None  # "en" or "de"


@dataclass(frozen=True)
class Register(Command):
    name: ClassVar[str] = "register"
    payout_address: str | None = None  # "0x" + 40 lowercase hex digits


@dataclass(frozen=True)
class AddMachine(Command):
    name: ClassVar[str] = "addmachine"
    machine: str
    region: str | None = None


@dataclass(frozen=True)
class Machines(Command):
    name: ClassVar[str] = "machines"


@dataclass(frozen=True)
class Price(Command):
    name: ClassVar[str] = "price"
    machine: str
    price_per_hour: int  # micro-USDC per GPU-hour
    model: str | None = None  # canonical GPU key


@dataclass(frozen=True)
class Pause(Command):
    name: ClassVar[str] = "pause"
    machine: str | None = None


@dataclass(frozen=True)
class Resume(Command):
    name: ClassVar[str] = "resume"
    machine: str | None = None


@dataclass(frozen=True)
class Earnings(Command):
    name: ClassVar[str] = "earnings"


# --- shared value parsers -------------------------------------------------------------------

_REF = re.compile(r"(?:r|#|rental)?#?(\d{1,9})", re.ASCII | re.IGNORECASE)
_MACHINE = re.compile(r"[A-Za-z0-9_.-]{1,32}", re.ASCII)
_REGION = re.compile(r"[a-z0-9-]{2,20}", re.ASCII)
_ADDRESS = re.compile(r"0x[0-9a-f]{40}", re.ASCII)
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
            "'{token}' is not a rental number — use the number /status shows, like {example}",
            token=_q(token),
            example=example,
        )
    return ref


def _machine(token: str) -> str:
    if not _MACHINE.fullmatch(token):
        raise GrammarError.keyed(
            "grammar.not_machine",
            "'{token}' is not a machine name — use 1 to 32 letters, digits, '.', '_' or '-'",
            token=_q(token),
        )
    return token


def _region(token: str) -> str:
    region = token.casefold()
    if not _REGION.fullmatch(region):
        raise GrammarError.keyed(
            "grammar.not_region",
            "'{token}' is not a region — use a short code like region=eu or region=us-east",
            token=_q(token),
        )
    return region


def _price(token: str) -> int:
    """Micro-USDC per hour from "0.65", "$0.65", "0,65/h"; raises GrammarError or MoneyFormatError."""
    text = _PRICE_SUFFIX.sub("", token.casefold())
    if len(text) > 24:  # parse_usdc echoes its whole input
        raise GrammarError.keyed(
            "grammar.not_amount",
            "'{token}' is not an amount; write it like 0.65 or $0.65",
            token=_q(token),
        )
    amount = parse_usdc(text)
    if amount <= 0:
        raise GrammarError.keyed(
            "grammar.price_zero", "A price must be more than $0 — '{token}' is not", token=_q(token)
        )
    return amount


def _small_int(token: str, low: int, high: int, what: str) -> int:
    if not _SMALL_INT.fullmatch(token) or not low <= int(token) <= high:
        raise GrammarError.keyed(
            f"grammar.bad_int.{what.replace(' ', '_')}",
            "'{token}' is not a valid " + what + " — use {low} to {high}",
            token=_q(token),
            low=low,
            high=high,
        )
    return int(token)


def _no_args(name: str) -> Callable[[str], Command]:
    def parse_none(args: str) -> Command:
        if args.strip():
            raise GrammarError.keyed(
                "grammar.no_args", "/{name} takes nothing after it — just send /{name}", name=name
            )
        return COMMANDS[name]()

    return parse_none


def _free_text(words: list[str], what: str) -> str | None:
    text = " ".join(words)
    if len(text) > MAX_FREE_TEXT_CHARS:
        raise GrammarError(
            f"That {what} is too long — keep it under {MAX_FREE_TEXT_CHARS} characters"
        )
    return text or None


# --- /rent and /gpus: order-free words ------------------------------------------------------

_FILLERS = frozenset({"for", "für", "fuer", "with", "mit"})
_PRICE_WORDS = frozenset({"under", "below", "unter", "max", "bis"})
_OPTION = re.compile(r"([a-z_]+)(>=|<=|=|>|<)(.*)", re.ASCII)
_BARE_OP = re.compile(r"(>=|<=|>|<)([\d$.,].*)")
_COUNT = re.compile(r"(\d{1,3})[x×]|[x×](\d{1,3})", re.ASCII)
_VRAM = re.compile(r"(\d{1,5})(?:gb|g)?\+?", re.ASCII)
_VRAM_UNIT = re.compile(r"(?:gb|g)?\+?$")
_OPTION_KEYS = {
    "max": "max_price", "price": "max_price", "preis": "max_price", "region": "region",
    "count": "count", "n": "count", "vram": "vram", "mem": "vram", "memory": "vram",
    "rel": "rel", "reliability": "rel", "sort": "sort", "page": "page",
}  # fmt: skip
_GLUE = re.compile(rf"(^|\s)({'|'.join(_OPTION_KEYS)})?\s*(>=|<=|=|>|<)\s*", re.ASCII)


def _words(args: str) -> list[str]:
    """Casefolded words, spaced operators glued on: "vram >= 48" -> "vram>=48", ">= 48gb"."""
    args = args.replace("\u2265", ">=").replace("\u2264", "<=").casefold()
    return _GLUE.sub(r"\1\2\3", args).split()


_RENT_KEYS = frozenset({"max_price", "region", "count", "duration"})
_GPUS_KEYS = frozenset({"max_price", "region", "vram", "rel", "sort", "page", "verified"})


@dataclass
class _Scan:
    options: dict[str, str]
    runs: list[list[str]]  # consecutive words that are neither options nor durations
    durations: list[list[str]]


def _duration_length(words: list[str], start: int) -> int:
    """How many words from ``start`` form one duration: "1h", "1 hour 30 minutes", "1h and 30m"."""
    end = start
    while True:
        at = end + 1 if end > start and end < len(words) and words[end] in ("and", "und") else end
        if at < len(words) and looks_like_duration(words[at]):
            end = at + 1
        elif at + 1 < len(words) and _NUMBER.fullmatch(words[at]) and is_unit_word(words[at + 1]):
            end = at + 2
        else:
            return end - start


def _scan(words: list[str], allowed: frozenset[str], example: str) -> _Scan:
    """Sort order-free words into options, durations and runs of (GPU model) words."""
    scan = _Scan({}, [], [])

    def put(key: str, value: str, token: str) -> None:
        if key not in allowed:
            raise GrammarError.keyed(
                "grammar.misplaced",
                "'{token}' doesn't fit here — try: {example}",
                token=_q(token),
                example=example,
            )
        if key in scan.options:
            raise GrammarError(f"'{_q(token)}': {key.replace('_', ' ')} is given twice — keep one")
        if not value:
            raise GrammarError.keyed(
                "grammar.needs_value",
                "'{token}' needs a value — try: {example}",
                token=_q(token),
                example=example,
            )
        scan.options[key] = value

    i, in_run = 0, False
    while i < len(words):
        word, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
        step, was_run, in_run = 1, in_run, False
        if word in _FILLERS:
            pass
        elif m := _COUNT.fullmatch(word):
            put("count", m.group(1) or m.group(2), word)
        elif word.isascii() and word.isdigit() and nxt in ("x", "×"):
            put("count", word, f"{word} {nxt}")
            step = 2
        elif m := _OPTION.fullmatch(word):
            key = _OPTION_KEYS.get(m.group(1))
            if key is None:
                raise GrammarError.keyed(
                    "grammar.unknown_option",
                    "Unknown option '{option}' — try: {example}",
                    option=_q(m.group(1)),
                    example=example,
                )
            put(key, m.group(3), word)
        elif m := _BARE_OP.fullmatch(word):
            op, value = m.groups()
            key = "rel" if value.endswith("%") else "max_price" if "<" in op else "vram"
            put("vram" if value.endswith(("gb", "g")) else key, value, word)
        elif word in _PRICE_WORDS and nxt:
            put("max_price", nxt, f"{word} {nxt}")
            step = 2
        elif word in ("verified", "verifiziert"):
            put("verified", "yes", word)
        elif "duration" in allowed and (length := _duration_length(words, i)):
            scan.durations.append(words[i : i + length])
            step = length
        elif "vram" in allowed and not was_run and _VRAM.fullmatch(word) and word[-1] in "gb+":
            put("vram", word, word)
        else:
            if was_run:
                scan.runs[-1].append(word)
            else:
                scan.runs.append([word])
            in_run = True
        i += step
    return scan


def _split_run(run: list[str]) -> tuple[list[str] | None, list[str]]:
    """The part of ``run`` that names a GPU (whole, else a prefix or suffix) and the rest."""
    if lookup(" ".join(run)):
        return run, []
    for size in range(min(len(run) - 1, 4), 0, -1):
        if lookup(" ".join(run[:size])):
            return run[:size], run[size:]
        if lookup(" ".join(run[-size:])):
            return run[-size:], run[:-size]
    return None, run


def _model(runs: list[list[str]], example: str, *, for_rent: bool) -> str | None:
    """Canonical key of the one GPU the runs name; raises GrammarError or AmbiguousChoice."""
    if not runs:
        return None
    splits = [_split_run(run) for run in runs]
    named = [part for part, _ in splits if part]
    if not named:
        return resolve_gpu(" ".join(runs[0])).key  # raises: unknown GPU, with a suggestion
    for _, rest in splits:
        if rest:
            text = " ".join(rest)
            if for_rent and re.match(r"[-\u2212]?[\d.,]", text):
                parse_duration(text)  # raises DurationError naming the actual problem
            what = "a GPU, a duration or an option" if for_rent else "a GPU or a filter"
            raise GrammarError.keyed(
                "grammar.not_rent_word" if for_rent else "grammar.not_gpus_word",
                "'{text}' isn't " + what + " — try: {example}",
                text=_q(text),
                example=example,
            )
    if len(named) > 1:
        first, second = (_q(" ".join(part)) for part in named[:2])
        raise GrammarError.keyed(
            "grammar.two_models",
            "One GPU model at a time — '{first}' or '{second}'? Try: {example}",
            first=first,
            second=second,
            example=example,
        )
    return resolve_gpu(" ".join(named[0])).key


def _rent(args: str) -> RentArgs:
    example = "/rent 4090 3h"
    scan = _scan(_words(args), _RENT_KEYS, example)
    if len(scan.durations) > 1:
        first, second = (_q(" ".join(span)) for span in scan.durations[:2])
        raise GrammarError.keyed(
            "grammar.two_durations",
            "Two durations, '{first}' and '{second}' — give one, like {example}",
            first=first,
            second=second,
            example=example,
        )
    model = _model(scan.runs, example, for_rent=True)
    if model is None:
        if not scan.durations:
            raise GrammarError.keyed(
                "grammar.rent_what", "Which GPU and for how long? Try: {example}", example=example
            )
        raise GrammarError.keyed(
            "grammar.rent_which",
            "Which GPU? Try: /rent 4090 {duration}",
            duration=_q(" ".join(scan.durations[0])),
        )
    if not scan.durations:
        raise GrammarError.keyed(
            "grammar.rent_how_long", "For how long? Try: /rent {model} 3h", model=model
        )
    opts = scan.options
    return RentArgs(
        model=model,
        duration_s=parse_duration(" ".join(scan.durations[0])),
        max_price_per_hour=_price(opts["max_price"]) if "max_price" in opts else None,
        region=_region(opts["region"]) if "region" in opts else None,
        count=_small_int(opts.get("count", "1"), 1, MAX_GPUS_PER_RENTAL, "number of GPUs"),
    )


_SORT_WORDS = {
    "price": "price",
    "cheapest": "price",
    "preis": "price",
    "reliability": "reliability",
}
_SORT_WORDS |= {"rel": "reliability", "vram": "vram", "memory": "vram", "mem": "vram"}


def _gpus(args: str) -> Gpus:
    example = "/gpus 4090 max=$1.20 region=eu"
    scan = _scan(_words(args), _GPUS_KEYS, example)
    opts = scan.options
    sort = _SORT_WORDS.get(opts.get("sort", "price"))
    if sort is None:
        raise GrammarError.keyed(
            "grammar.bad_sort",
            "Can't sort by '{sort}' — use sort=price, rel or vram",
            sort=_q(opts["sort"]),
        )
    vram, rel = opts.get("vram"), opts.get("rel")
    filters = GpuFilters(
        model=_model(scan.runs, example, for_rent=False),
        min_vram_gb=_small_int(_VRAM_UNIT.sub("", vram), 1, 4096, "memory size") if vram else None,
        max_price_per_hour=_price(opts["max_price"]) if "max_price" in opts else None,
        region=_region(opts["region"]) if "region" in opts else None,
        min_reliability=_small_int(rel.removesuffix("%"), 0, 100, "reliability") if rel else None,
        verified_only="verified" in opts,
    )
    page = _small_int(opts.get("page", "1"), 1, 10_000, "page")
    return Gpus(filters=filters, sort=sort, page=page)


# --- rentals --------------------------------------------------------------------------------


def _optional_ref(name: str) -> Callable[[str], Command]:
    def parse_ref(args: str) -> Command:
        words = args.split()
        if len(words) > 1:
            raise GrammarError.keyed(
                "grammar.one_ref",
                "/{name} takes one rental number at most, like /{name} 12",
                name=name,
            )
        return COMMANDS[name](rental_ref=_must_ref(words[0], f"/{name} 12") if words else None)

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
        raise GrammarError.keyed(
            "grammar.extend_how_long",
            "How much longer? Try /extend 2h (or /extend 12 2h for rental 12)",
        )
    return Extend(duration_s=parse_duration(" ".join(rest)), rental_ref=ref)


def _receipts(args: str) -> Receipts:
    words = set(args.casefold().split())
    if words - {"csv", "export"}:
        raise GrammarError.keyed(
            "grammar.receipts_args",
            "/receipts shows your receipts; /receipts csv exports them as a file",
        )
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


def _rate(args: str) -> Rate:
    words, ref = args.split(), None
    if words and not words[0].isdigit() and _REF.fullmatch(words[0]):  # "r12", "#12"
        ref = _must_ref(words.pop(0), "/rate 12 5")
    elif len(words) > 1 and words[0].isdigit() and _stars(words[1]) is not None:  # "12 5"
        ref = _must_ref(words.pop(0), "/rate 12 5")
    if not words:
        raise GrammarError.keyed(
            "grammar.rate_how_many", "How many stars, 1 to 5? Try /rate 5 or /rate 12 4 great box"
        )
    stars = _stars(words[0])
    if stars is None or not 1 <= stars <= 5:
        raise GrammarError.keyed(
            "grammar.rate_range",
            "Stars go from 1 to 5 — '{token}' is not one; try /rate 5",
            token=_q(words[0]),
        )
    rest = words[1:]
    if rest and rest[0].casefold() in _STAR_WORDS:
        rest = rest[1:]
    return Rate(rental_ref=ref, stars=stars, comment=_free_text(rest, "comment"))


_CONNECT = {"switch": "switch", "change": "switch", "wechseln": "switch", "new": "switch"}
_CONNECT |= {"disconnect": "disconnect", "logout": "disconnect", "trennen": "disconnect"}


def _connect(args: str) -> Connect:
    words = args.casefold().split()
    action = _CONNECT.get(words[0]) if len(words) == 1 else None
    if words and action is None:
        raise GrammarError.keyed(
            "grammar.connect_args",
            "/connect links your wallet; /connect switch or /connect disconnect",
        )
    return Connect(action=action)


# --- account --------------------------------------------------------------------------------

_KEY_TYPES = frozenset(
    {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"}
    | {"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_PRIVATE_KEY = re.compile(r"PRIVATE KEY|PuTTY-User-Key-File", re.IGNORECASE)
_KEY_HELP = "paste the one line of your ~/.ssh/id_ed25519.pub (it starts with ssh-ed25519)"


def _ssh_fields(blob: bytes) -> list[bytes] | None:
    """The length-prefixed strings of an SSH public key blob (RFC 4253), or None if malformed."""
    fields = []
    while blob and len(fields) < 8:
        size = int.from_bytes(blob[:4], "big")
        if len(blob) < 4 + size:
            return None
        fields.append(blob[4 : 4 + size])
        blob = blob[4 + size :]
    return None if blob else fields


def _key_body_ok(kind: str, fields: list[bytes]) -> bool:
    if kind.endswith("ed25519") or kind.endswith("ed25519@openssh.com"):
        return len(fields) == (3 if kind.startswith("sk-") else 2) and len(fields[1]) == 32
    if kind == "ssh-rsa":
        if len(fields) != 3:
            return False
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < 2048:
            raise GrammarError(f"That RSA key has {bits} bits; 2048 at least — or use ed25519")
        return True
    curve = kind.removeprefix("sk-").split("@")[0].rsplit("-", 1)[1].encode()  # b"nistp256"
    return len(fields) == (4 if kind.startswith("sk-") else 3) and fields[1] == curve


def _sshkey(args: str) -> SshKey:
    text = args.strip()
    if not text:
        return SshKey()
    if _PRIVATE_KEY.search(text):
        raise GrammarError.keyed(
            "grammar.sshkey_private",
            "That is a PRIVATE key — never share it. Send the .pub file instead.",
        )
    if "\n" in text or "\r" in text:  # one key, one authorized_keys line: no smuggled options
        raise GrammarError(f"Send one key on a single line — {_KEY_HELP}")
    parts = text.split(maxsplit=2)
    kind, data = parts[0], parts[1] if len(parts) > 1 else ""
    if kind == "ssh-dss":
        raise GrammarError("DSA keys are no longer safe — make one with: ssh-keygen -t ed25519")
    if kind not in _KEY_TYPES or not _BASE64.fullmatch(data) or len(data) % 4:
        raise GrammarError.keyed(
            "grammar.sshkey_not_key", "That doesn't look like an SSH public key — " + _KEY_HELP
        )
    try:
        fields = _ssh_fields(base64.b64decode(data, validate=True))
    except binascii.Error:
        fields = None
    if not fields or fields[0] != kind.encode() or not _key_body_ok(kind, fields):
        raise GrammarError(f"That SSH key is damaged or incomplete — {_KEY_HELP}")
    comment = " ".join(parts[2].split()) if len(parts) > 2 else ""
    if len(comment) > 100:
        raise GrammarError("The comment after the key is too long — keep it under 100 characters")
    return SshKey(public_key=f"{kind} {data} {comment}".rstrip())


_LANGS = {"en": "en", "english": "en", "englisch": "en", "eng": "en"}
_LANGS |= {"de": "de", "deutsch": "de", "german": "de", "ger": "de", "deu": "de"}


def _lang(args: str) -> Lang:
    words = args.casefold().split()
    lang = _LANGS.get(words[0]) if len(words) == 1 else None
    if words and lang is None:
        raise GrammarError.keyed(
            "grammar.lang", "I speak English and German — try /lang en or /lang de"
        )
    return Lang(lang=lang)


# --- providers ------------------------------------------------------------------------------


def _register(args: str) -> Register:
    words = args.split()
    if not words:
        return Register()
    address = words[0].casefold()  # no checksum library: any case is accepted
    if len(words) > 1 or not _ADDRESS.fullmatch(address):
        raise GrammarError.keyed(
            "grammar.not_address",
            "'{token}' is not a wallet address — it is 0x and 40 hex characters",
            token=_q(args.strip()),
        )
    if int(address, 16) == 0:
        raise GrammarError.keyed(
            "grammar.zero_address", "That is the zero address; payouts sent there are lost forever"
        )
    return Register(payout_address=address)


def _add_machine(args: str) -> AddMachine:
    words = args.split()
    if not words or len(words) > 2:
        raise GrammarError.keyed(
            "grammar.addmachine_args",
            "Name the machine, and optionally its region: /addmachine box1 eu",
        )
    region = _region(words[1].casefold().removeprefix("region=")) if len(words) > 1 else None
    return AddMachine(machine=_machine(words[0]), region=region)


def _price_cmd(args: str) -> Price:
    words = args.split()
    example = "/price box1 0.65 (dollars per GPU-hour)"
    if len(words) == 1 and re.fullmatch(r"\$?[\d.,]+(?:/h)?", words[0], re.ASCII):
        raise GrammarError.keyed(
            "grammar.price_which_machine",
            "Which machine? Try {example} — /machines lists yours",
            example=example,
        )
    if not words:
        raise GrammarError.keyed(
            "grammar.price_args", "Which machine and what price? Try {example}", example=example
        )
    machine, rest = _machine(words[0]), [w.casefold() for w in words[1:]]
    if not rest:
        raise GrammarError.keyed(
            "grammar.price_what",
            "What price per GPU-hour? Try /price {machine} 0.65",
            machine=machine,
        )
    if len(rest) > 1 and rest[-1] in ("usdc", "usd"):
        rest = rest[:-1]
    # the price is the word marked as money, else one with decimals, else the last word
    marked = [i for i, w in enumerate(rest) if "$" in w or "/h" in w or w.endswith("usdc")]
    marked += [i for i, w in enumerate(rest) if "." in w or "," in w]
    at = marked[0] if marked else len(rest) - 1
    model = " ".join(rest[:at] + rest[at + 1 :])
    return Price(
        machine=machine,
        price_per_hour=_price(rest[at]),
        model=resolve_gpu(model).key if model else None,
    )


def _machine_or_all(name: str) -> Callable[[str], Command]:
    def parse_machine(args: str) -> Command:
        words = args.split()
        if len(words) > 1:
            raise GrammarError(f"/{name} takes one machine name, or none for all: /{name} box1")
        return COMMANDS[name](machine=_machine(words[0]) if words else None)

    return parse_machine


def _help(args: str) -> Help:
    words = args.split()  # "/help rent 4090" still means help on /rent
    if not words:
        return Help()
    topic = words[0].removeprefix("/").split("@")[0]
    name = _command_name(topic)
    if name is None:
        close = _closest(topic)
        hint = f"did you mean /help {close}?" if close else "send /help for everything"
        raise GrammarError(f"No help on '{_q(topic)}' — {hint}")
    return Help(topic=name)


# --- dispatch -------------------------------------------------------------------------------

COMMANDS: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (Start, Help, Gpus, RentArgs, Status, Extend, Stop, Receipts, Dispute, Rate)
    + (Connect, SshKey, Lang, Register, AddMachine, Machines, Price, Pause, Resume, Earnings)
}
RENTER_COMMANDS = ("start", "help", "gpus", "rent", "status", "extend", "stop", "receipts")
RENTER_COMMANDS += ("dispute", "rate", "connect", "sshkey", "lang")
PROVIDER_COMMANDS = ("register", "addmachine", "machines", "price", "pause", "resume", "earnings")
_ALIASES = {"gpu": "gpus", "key": "sshkey", "ssh": "sshkey", "language": "lang"}
_ALIASES |= {"sprache": "lang", "receipt": "receipts", "hilfe": "help", "wallet": "connect"}
_PARSERS: dict[str, Callable[[str], Command]] = {
    "start": lambda args: Start(),  # Telegram deep links put a payload after /start
    "help": _help, "gpus": _gpus, "rent": _rent, "status": _optional_ref("status"),
    "extend": _extend, "stop": _optional_ref("stop"), "receipts": _receipts,
    "dispute": _dispute, "rate": _rate, "connect": _connect, "sshkey": _sshkey, "lang": _lang,
    "register": _register, "addmachine": _add_machine, "machines": _no_args("machines"),
    "price": _price_cmd, "pause": _machine_or_all("pause"), "resume": _machine_or_all("resume"),
    "earnings": _no_args("earnings"),
}  # fmt: skip


def _command_name(word: str) -> str | None:
    key = word.casefold().replace("_", "").replace("-", "")
    return key if key in COMMANDS else _ALIASES.get(key)


def _closest(word: str) -> str | None:
    key = word.casefold().replace("_", "").replace("-", "")
    close = difflib.get_close_matches(key, list(COMMANDS), n=1) if len(key) <= 32 else []
    return close[0] if close else None


def _clean(text: str) -> str:
    """NFKC-normalised text without control or invisible format characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )


def _too_long(length: int, limit: int) -> GrammarError:
    return GrammarError.keyed(
        "grammar.too_long",
        "That is too long ({length} characters); a command fits in {limit}",
        length=f"{length:,}",
        limit=f"{limit:,}",
    )


def _unknown(word: str) -> GrammarError:
    if not word:
        return GrammarError.keyed(
            "grammar.empty_command",
            "Type a command after the /, like /rent 4090 3h — or send /help",
        )
    close = _closest(word)
    if close:
        return GrammarError.keyed(
            "grammar.unknown_close",
            "Unknown command /{word} — did you mean /{close}? Or send /help",
            word=_q(word),
            close=close,
        )
    return GrammarError.keyed(
        "grammar.unknown", "Unknown command /{word} — send /help for the list", word=_q(word)
    )


def _run(name: str, args: str, raw_length: int) -> Command:
    limit = MAX_SSHKEY_INPUT_CHARS if name == "sshkey" else MAX_INPUT_CHARS
    if raw_length > limit:
        raise _too_long(raw_length, limit)
    try:
        return _PARSERS[name](args)
    except (DurationError, MoneyFormatError) as exc:  # their messages already read well
        raise GrammarError(str(exc), key=exc.key, params=exc.params) from exc


def parse(text: str) -> Command:
    """The command in a chat message ("/rent@RigBot 4090 3h"); raises GrammarError.

    A known command name without the slash ("rent 4090 3h") is accepted too, for DMs and the
    terminal. The @BotName suffix is ignored: the front end decides whom a command is for.
    """
    if len(text) > MAX_SSHKEY_INPUT_CHARS:  # too long for any command; only name the limit
        first = text[:64].split(maxsplit=1)[:1] or [""]
        is_key = _command_name(first[0].removeprefix("/").split("@")[0]) == "sshkey"
        raise _too_long(len(text), MAX_SSHKEY_INPUT_CHARS if is_key else MAX_INPUT_CHARS)
    parts = _clean(text).split(maxsplit=1)
    if not parts:
        raise GrammarError.keyed(
            "grammar.empty", "Send a command, like /rent 4090 3h — or /help for the list"
        )
    head, args = parts[0], parts[1] if len(parts) > 1 else ""
    word = head.removeprefix("/").split("@", 1)[0]
    name = _command_name(word)
    if name is None:
        if not head.startswith("/"):
            raise GrammarError.keyed(
                "grammar.no_slash",
                "Commands start with / — try /rent 4090 3h, or /help for the list",
            )
        raise _unknown(word)
    return _run(name, args, len(text))


def parse_args(name: str, args: str) -> Command:
    """The command ``name`` ("rent" or "/rent") with argument text ``args``; raises GrammarError.

    For front ends that split the name off themselves, such as Discord slash commands.
    """
    word = _clean(name).strip().removeprefix("/").split("@", 1)[0]
    command = _command_name(word)
    if command is None:
        raise _unknown(word)
    if len(args) > MAX_SSHKEY_INPUT_CHARS:
        raise _too_long(len(args), MAX_INPUT_CHARS)
    return _run(command, _clean(args), len(args))
