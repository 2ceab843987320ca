"""The one command grammar behind every chat front end: "/rent 4090 3h" -> RentArgs(...).

``parse`` takes a whole message, ``parse_args`` a command name and its argument text (Discord
slash commands). Both return a frozen ``Command`` or raise GrammarError (AmbiguousChoice when a
GPU name fits several models); the message names the problem and the fix. Input is NFKC-
normalised first, so full-width "４０９０ ３h" reads as "4090 3h"; control characters are dropped
and user text is echoed at most 40 characters long.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from core.domain.durations import DurationError
from core.domain.money import MoneyFormatError
from core.errors import GrammarError
from core.grammar.commands import (
    COMMANDS,
    MAX_FREE_TEXT_CHARS,
    MAX_GPUS_PER_RENTAL,
    MAX_INPUT_CHARS,
    MAX_SSHKEY_INPUT_CHARS,
    SORTS,
    AddMachine,
    Cancel,
    Command,
    Connect,
    Dispute,
    Earnings,
    Extend,
    GpuFilters,
    Gpus,
    Help,
    Lang,
    Machines,
    Pause,
    Price,
    Rate,
    Receipts,
    Register,
    RemoveMachine,
    RentArgs,
    Resume,
    RotateToken,
    SshKey,
    Start,
    Status,
    Stop,
    Templates,
)
from core.grammar.registry import (
    BY_NAME,
    PROVIDER_COMMANDS,
    RENTER_COMMANDS,
    SPECS,
    build,
    closest,
    command_name,
    text_of,
)
from core.grammar.values import _q

__all__ = [
    "BY_NAME", "COMMANDS", "MAX_FREE_TEXT_CHARS", "MAX_GPUS_PER_RENTAL", "MAX_INPUT_CHARS",
    "MAX_SSHKEY_INPUT_CHARS", "PROVIDER_COMMANDS", "RENTER_COMMANDS", "SORTS", "SPECS",
    "AddMachine", "Cancel", "Command", "Connect", "Dispute", "Earnings", "Extend", "GpuFilters",
    "Gpus", "Help", "Lang", "Machines", "Pause", "Price", "Rate", "Receipts", "Register",
    "RemoveMachine", "RentArgs", "Resume", "RotateToken", "SshKey", "Start", "Status", "Stop",
    "Templates", "build_options", "command_name", "parse", "parse_args", "text_of",
]  # fmt: skip

_command_name = command_name  # the names the rest of this module was written with
_closest = closest


def _clean(text: str) -> str:
    """NFKC-normalised text without control or invisible format characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )


def _too_long(length: int, limit: int) -> GrammarError:
    return GrammarError.keyed(
        "grammar.too_long",
        length=f"{length:,}",
        limit=f"{limit:,}",
    )


def _unknown(word: str) -> GrammarError:
    if not word:
        return GrammarError.keyed("grammar.empty_command")
    close = _closest(word)
    if close:
        return GrammarError.keyed(
            "grammar.unknown_close",
            word=_q(word),
            close=close,
        )
    return GrammarError.keyed("grammar.unknown", word=_q(word))


def _run(name: str, args: str, raw_length: int) -> Command:
    limit = BY_NAME[name].max_chars
    if raw_length > limit:
        raise _too_long(raw_length, limit)
    try:
        return BY_NAME[name].parse(args)
    except (DurationError, MoneyFormatError) as exc:  # their messages already read well
        raise GrammarError(str(exc), key=exc.key, params=exc.params) from exc


def build_options(name: str, values: Mapping[str, object]) -> Command:
    """The command ``name`` from typed option values (Discord); raises GrammarError.

    Text values are cleaned like a typed line (NFKC, no control characters) and held to the
    same length limits; then each goes through the text grammar's own value parser.
    """
    command = _command_name(_clean(name).strip().removeprefix("/"))
    if command is None:
        raise _unknown(name)
    limit = BY_NAME[command].max_chars
    clean = {k: _clean(v) if isinstance(v, str) else v for k, v in values.items()}
    length = sum(len(v) for v in clean.values() if isinstance(v, str))
    if length > limit:
        raise _too_long(length, limit)
    try:
        return build(command, clean)
    except (DurationError, MoneyFormatError) as exc:
        raise GrammarError(str(exc), key=exc.key, params=exc.params) from exc


def parse(text: str) -> Command:
    """The command in a chat message ("/rent@RigBot 4090 3h"); raises GrammarError.

    A known command name without the slash ("rent 4090 3h") is accepted too, for DMs and the
    terminal. The @BotName suffix is ignored: the front end decides whom a command is for.
    """
    if len(text) > MAX_SSHKEY_INPUT_CHARS:  # too long for any command; only name the limit
        first = text[:64].split(maxsplit=1)[:1] or [""]
        name = _command_name(first[0].removeprefix("/").split("@")[0])
        raise _too_long(len(text), BY_NAME[name].max_chars if name else MAX_INPUT_CHARS)
    parts = _clean(text).split(maxsplit=1)
    if not parts:
        raise GrammarError.keyed("grammar.empty")
    head, args = parts[0], parts[1] if len(parts) > 1 else ""
    word = head.removeprefix("/").split("@", 1)[0]
    name = _command_name(word)
    if name is None:
        if not head.startswith("/"):
            raise GrammarError.keyed("grammar.no_slash")
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
