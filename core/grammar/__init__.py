"""The one command grammar behind every chat front end: "/rent 4090 3h" -> RentArgs(...).

``parse`` takes a whole message, ``parse_args`` a command name and its argument text (Discord
slash commands). Both return a frozen ``Command`` or raise GrammarError (AmbiguousChoice when a
GPU name fits several models); the message names the problem and the fix. Input is NFKC-
normalised first, so full-width "４０９０ ３h" reads as "4090 3h"; control characters are dropped
and user text is echoed at most 40 characters long.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable

from core.domain.durations import DurationError
from core.domain.money import MoneyFormatError
from core.errors import GrammarError
from core.grammar.account import (
    _add_machine,
    _lang,
    _machine_or_all,
    _price_cmd,
    _register,
    _sshkey,
)
from core.grammar.commands import (
    COMMANDS,
    MAX_FREE_TEXT_CHARS,
    MAX_GPUS_PER_RENTAL,
    MAX_INPUT_CHARS,
    MAX_SSHKEY_INPUT_CHARS,
    SORTS,
    AddMachine,
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
    RentArgs,
    Resume,
    SshKey,
    Start,
    Status,
    Stop,
    Templates,
)
from core.grammar.market import _gpus, _rent, _templates
from core.grammar.rentals import _connect, _dispute, _extend, _optional_ref, _rate, _receipts
from core.grammar.values import _no_args, _q

__all__ = [
    "COMMANDS", "MAX_FREE_TEXT_CHARS", "MAX_GPUS_PER_RENTAL", "MAX_INPUT_CHARS",
    "MAX_SSHKEY_INPUT_CHARS", "PROVIDER_COMMANDS", "RENTER_COMMANDS", "SORTS", "AddMachine",
    "Command", "Connect", "Dispute", "Earnings", "Extend", "GpuFilters", "Gpus", "Help", "Lang",
    "Machines", "Pause", "Price", "Rate", "Receipts", "Register", "RentArgs", "Resume", "SshKey",
    "Start", "Status", "Stop", "Templates", "parse", "parse_args",
]  # fmt: skip


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

RENTER_COMMANDS = ("start", "help", "gpus", "rent", "templates", "status", "extend", "stop")
RENTER_COMMANDS += ("receipts", "dispute", "rate", "connect", "sshkey", "lang")
PROVIDER_COMMANDS = ("register", "addmachine", "machines", "price", "pause", "resume", "earnings")
_ALIASES = {"gpu": "gpus", "key": "sshkey", "ssh": "sshkey", "language": "lang"}
_ALIASES |= {"sprache": "lang", "receipt": "receipts", "hilfe": "help", "wallet": "connect"}
_PARSERS: dict[str, Callable[[str], Command]] = {
    "start": lambda args: Start(),  # Telegram deep links put a payload after /start
    "help": _help, "gpus": _gpus, "rent": _rent, "templates": _templates,
    "status": _optional_ref("status"),
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
