"""/sshkey, /lang and the provider commands."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.domain.addresses import is_address, is_zero
from core.domain.gpus import resolve_gpu
from core.domain.ssh_keys import KEY_TYPES, InvalidPublicKey, parse_public_key
from core.errors import GrammarError
from core.grammar.commands import (
    AddMachine,
    Command,
    Lang,
    Pause,
    Price,
    Register,
    RemoveMachine,
    Resume,
    RotateToken,
    SshKey,
)
from core.grammar.values import _machine, _one_word_of, _price, _q, _region

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_PRIVATE_KEY = re.compile(r"PRIVATE KEY|PuTTY-User-Key-File", re.IGNORECASE)
_MAX_COMMENT = 100  # characters of the comment after the key


def _sshkey(args: str) -> SshKey:
    return SshKey(public_key=public_key(args))


def public_key(args: str) -> str | None:
    """One validated OpenSSH public key line, or None for nothing given."""
    text = args.strip()
    if not text:
        return None
    if _PRIVATE_KEY.search(text):
        raise GrammarError.keyed("grammar.sshkey_private")
    if "\n" in text or "\r" in text:  # one key, one authorized_keys line: no smuggled options
        raise GrammarError.keyed("grammar.sshkey_lines")
    parts = text.split(maxsplit=2)
    kind, data = parts[0], parts[1] if len(parts) > 1 else ""
    if kind == "ssh-dss":
        raise GrammarError.keyed("grammar.sshkey_dsa")
    if kind not in KEY_TYPES or not _BASE64.fullmatch(data) or len(data) % 4:
        raise GrammarError.keyed("grammar.sshkey_not_key")
    try:  # the rules the provider agent installs keys by: accepted here, accepted there
        parse_public_key(f"{kind} {data}")
    except InvalidPublicKey as exc:
        if exc.bits is not None:
            raise GrammarError.keyed("grammar.sshkey_rsa_bits", bits=exc.bits) from exc
        raise GrammarError.keyed("grammar.sshkey_damaged") from exc
    comment = " ".join(parts[2].split()) if len(parts) > 2 else ""
    if len(comment) > _MAX_COMMENT:
        raise GrammarError.keyed("grammar.sshkey_comment", limit=_MAX_COMMENT)
    return f"{kind} {data} {comment}".rstrip()


_LANGS = {"en": "en", "english": "en", "englisch": "en", "eng": "en"}
_LANGS |= {"de": "de", "deutsch": "de", "german": "de", "ger": "de", "deu": "de"}


def _lang(args: str) -> Lang:
    return Lang(lang=lang_code(args))


def lang_code(args: str) -> str | None:
    """ "en" or "de" from a language word; None for nothing given."""
    return _one_word_of(args, _LANGS, lambda: GrammarError.keyed("grammar.lang"))


# --- providers ------------------------------------------------------------------------------


def _register(args: str) -> Register:
    return Register(payout_address=payout_address(args))


def payout_address(args: str) -> str | None:
    """A lowercase "0x" + 40 hex digits wallet address; None for nothing given."""
    words = args.split()
    if not words:
        return None
    address = words[0].casefold()  # no checksum library: any case is accepted
    if len(words) > 1 or not is_address(address):
        raise GrammarError.keyed(
            "grammar.not_address",
            token=_q(args.strip()),
        )
    if is_zero(address):
        raise GrammarError.keyed("grammar.zero_address")
    return address


def _add_machine(args: str) -> AddMachine:
    """``/addmachine <name> [region=<region>]``: the region is always named as ``region=``, so
    a name typed with a space ("my box") is refused instead of read as machine "my" in
    region "box"."""
    words = args.split()
    if not words or len(words) > 2:
        raise GrammarError.keyed("grammar.addmachine_args")
    region = None
    if len(words) > 1:
        key, eq, value = words[1].partition("=")
        if not eq or key.casefold() != "region":
            raise one_word_machine(words)
        region = _region(value.casefold())
    return AddMachine(machine=_machine(words[0]), region=region)


def one_word_machine(words: list[str]) -> GrammarError:
    """A machine name typed as several words ("my box"): refused, with the fix."""
    return GrammarError.keyed(
        "grammar.addmachine_one_word",
        joined=_q("-".join(words)),
        first=_q(words[0]),
    )


# the last word of "/price box1 1000 confirm": the provider means a price that looks implausible
_CONFIRM_WORDS = frozenset({"confirm", "confirmed", "bestätigen", "bestätigt"})


def _price_cmd(args: str) -> Price:
    words = args.split()
    example = "/price box1 0.65 (dollars per GPU-hour)"
    if len(words) == 1 and re.fullmatch(r"\$?[\d.,]+(?:/h)?", words[0], re.ASCII):
        raise GrammarError.keyed(
            "grammar.price_which_machine",
            example=example,
        )
    if not words:
        raise GrammarError.keyed("grammar.price_args", example=example)
    machine, rest = _machine(words[0]), [w.casefold() for w in words[1:]]
    if not rest:
        raise GrammarError.keyed(
            "grammar.price_what",
            machine=machine,
        )
    confirmed = len(rest) > 1 and rest[-1] in _CONFIRM_WORDS
    if confirmed:
        rest = rest[:-1]
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
        confirmed=confirmed,
    )


def _machine_or_all(cls: type[Pause] | type[Resume]) -> Callable[[str], Command]:
    name = cls.name

    def parse_machine(args: str) -> Command:
        words = args.split()
        if len(words) > 1:
            raise GrammarError.keyed("grammar.one_machine_or_all", name=name)
        return cls(machine=_machine(words[0]) if words else None)

    return parse_machine


def _one_machine(name: str, words: list[str]) -> str:
    if len(words) != 1:
        raise GrammarError.keyed(
            "grammar.one_machine",
            name=name,
        )
    return _machine(words[0])


def _remove_machine(args: str) -> RemoveMachine:
    """``/removemachine box1`` asks first; ``/removemachine box1 confirm`` removes it."""
    words = args.split()
    confirmed = len(words) > 1 and words[-1].casefold() in _CONFIRM_WORDS
    machine = _one_machine("removemachine", words[:-1] if confirmed else words)
    return RemoveMachine(machine=machine, confirmed=confirmed)


def _rotate_token(args: str) -> RotateToken:
    return RotateToken(machine=_one_machine("rotatetoken", args.split()))
