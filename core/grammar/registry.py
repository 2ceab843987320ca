"""The one command registry: every chat command's name, aliases, audience and options.

The text grammar (``core.grammar.parse``), the Telegram routers and menu, the Discord slash
commands and /help are all generated from ``SPECS``, so a command or an alias cannot exist
in one front end only. Each spec carries its text parser (the words after the name) and its
typed options (Discord); both end in the same value parsers, so an error reads the same.
Texts are catalogue keys: ``menu.<name>`` (one line), ``discord.cmd.<name>`` (a slash
command's description), ``discord.opt.<name>.<option>`` (an option's).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import GrammarError
from core.grammar import account, market, rentals
from core.grammar import commands as c
from core.grammar.typed import BUILDERS, Values
from core.grammar.values import _no_args, _q

TEXT, INT, BOOL, CHOICE = "text", "int", "bool", "choice"
RENTER, PROVIDER = "renter", "provider"


@dataclass(frozen=True)
class Option:
    """One typed option. ``form`` writes a value as the grammar's words ("max={}"; for a
    bool, the word that stands for True); ``complete`` names an autocompletion."""

    name: str
    kind: str = TEXT
    required: bool = False
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    form: str = "{}"
    complete: str | None = None  # "gpu", "duration", "rental", "topic"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    audience: str  # RENTER, or PROVIDER (private chats only)
    group: str  # the Telegram router that answers it
    usage: str  # the syntax, the same in every language
    parse: Callable[[str], c.Command]  # the words after the name
    options: tuple[Option, ...] = ()  # in the order the grammar's words are written
    aliases: tuple[str, ...] = ()  # every other word for it, English and German
    max_chars: int = c.MAX_INPUT_CHARS
    # the German name (one of the aliases): what a German Discord client shows in its command
    # picker, where a command has one name per language, not a list of aliases
    de_name: str = ""

    @property
    def summary_key(self) -> str:
        return f"menu.{self.name}"

    @property
    def description_key(self) -> str:
        return f"discord.cmd.{self.name}"

    def option_key(self, option: str) -> str:
        return f"discord.opt.{self.name}.{option}"

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _help(args: str) -> c.Help:
    words = args.split()  # "/help rent 4090" still means help on /rent
    if not words:
        return c.Help()
    topic = words[0].removeprefix("/").split("@")[0]
    name = command_name(topic)
    if name is None:
        close = closest(topic)
        if close:
            raise GrammarError.keyed("grammar.no_help_close", topic=_q(topic), close=close)
        raise GrammarError.keyed("grammar.no_help", topic=_q(topic))
    return c.Help(topic=name)


GPU = Option("gpu", complete="gpu")
REGION = Option("region", form="region={}")
MAX_PRICE = Option("max_price", form="max={}")
RENTAL = Option("rental", complete="rental")
MACHINE = Option("machine", required=True)
SOME_MACHINE = Option("machine")
DURATION = Option("duration", required=True, complete="duration")


def _spec(
    name: str,
    audience: str,
    group: str,
    usage: str,
    parse: Callable[[str], c.Command],
    *options: Option,
    aliases: tuple[str, ...] = (),
    max_chars: int = c.MAX_INPUT_CHARS,
    de: str = "",
) -> CommandSpec:
    words = aliases + ((de,) if de else ())
    return CommandSpec(name, audience, group, usage, parse, options, words, max_chars, de)


SPECS: tuple[CommandSpec, ...] = (
    _spec("start", RENTER, "start", "/start", lambda args: c.Start()),  # deep links add a payload
    _spec("help", RENTER, "start", "/help [command]", _help,
          Option("topic", complete="topic"), de="hilfe"),
    _spec("gpus", RENTER, "market",
          "/gpus [model] [vram>=48] [max=$1.20] [region=eu] [rel>=95] [verified] "
          "[sort=price|reliability|vram] [page=2] [ram>=64] [disk>=200] [cpu>=8] [cuda>=12.4]",
          market._gpus,
          GPU, MAX_PRICE, REGION,
          Option("min_vram", INT, low=1, high=4096, form="vram>={}"),
          Option("min_reliability", INT, low=0, high=100, form="rel>={}"),
          Option("verified", BOOL, form="verified"),
          Option("sort", CHOICE, choices=c.SORTS, form="sort={}"),
          Option("page", INT, low=1, high=10_000, form="page={}"),
          Option("min_ram", INT, low=1, high=65_536, form="ram>={}"),
          Option("min_disk", INT, low=1, high=100_000, form="disk>={}"),
          Option("min_cpu", INT, low=1, high=4096, form="cpu>={}"),
          Option("min_cuda", form="cuda>={}"),
          aliases=("gpu",)),
    _spec("rent", RENTER, "market",
          "/rent <gpu|#listing> <duration> [max=$2] [region=eu] [count=2] "
          "[image=pytorch | template=jupyter | image=repo/name:tag] [ports=8080,6006] [disk=200]",
          market._rent,
          Option("gpu", required=True, complete="gpu"), DURATION, MAX_PRICE, REGION,
          Option("count", INT, low=1, high=c.MAX_GPUS_PER_RENTAL, form="count={}"),
          Option("template", form="template={}"), Option("image", form="image={}"),
          Option("ports", form="ports={}"),
          Option("disk", INT, low=1, high=100_000, form="disk={}"),
          aliases=("miete",), de="mieten"),
    _spec("templates", RENTER, "market", "/templates [gpu|#listing]", market._templates, GPU,
          de="vorlagen"),
    _spec("status", RENTER, "rentals", "/status [#id]", rentals._optional_ref(c.Status), RENTAL),
    _spec("extend", RENTER, "rentals", "/extend [#id] <duration>", rentals._extend,
          RENTAL, Option("duration", required=True, complete="duration"),
          de="verlaengern"),
    _spec("stop", RENTER, "rentals", "/stop [#id]", rentals._optional_ref(c.Stop), RENTAL,
          de="stopp"),
    _spec("receipts", RENTER, "rentals", "/receipts [csv]", rentals._receipts,
          Option("csv", BOOL, form="csv"), aliases=("receipt",), de="belege"),
    _spec("dispute", RENTER, "rentals", "/dispute [#id] <reason>", rentals._dispute,
          RENTAL, Option("reason", required=True, max_length=c.MAX_FREE_TEXT_CHARS)),
    _spec("rate", RENTER, "rentals", "/rate [#id] <1-5> [comment]", rentals._rate,
          RENTAL, Option("stars", INT, required=True, low=1, high=5, form="{}/5"),
          Option("comment", max_length=c.MAX_FREE_TEXT_CHARS), de="bewerten"),
    _spec("connect", RENTER, "account", "/connect [switch|disconnect]", rentals._connect,
          Option("action", CHOICE, choices=("switch", "disconnect")), aliases=("wallet",)),
    _spec("sshkey", RENTER, "account", "/sshkey <public key>", account._sshkey,
          Option("key", max_length=c.MAX_SSHKEY_INPUT_CHARS), aliases=("key", "ssh"),
          max_chars=c.MAX_SSHKEY_INPUT_CHARS),
    _spec("lang", RENTER, "start", "/lang en|de", account._lang,
          Option("lang", CHOICE, choices=("en", "de")), aliases=("language",), de="sprache"),
    _spec("cancel", RENTER, "start", "/cancel", _no_args("cancel"), de="abbrechen"),
    _spec("register", PROVIDER, "provider", "/register [0xPayoutAddress]", account._register,
          Option("payout_address")),
    _spec("addmachine", PROVIDER, "provider", "/addmachine <name> [region=eu]",
          account._add_machine, MACHINE, REGION),
    _spec("machines", PROVIDER, "provider", "/machines", _no_args("machines"),
          de="maschinen"),
    _spec("price", PROVIDER, "provider", "/price <machine> [gpu] <$/h> [confirm]",
          account._price_cmd, MACHINE, Option("gpu", complete="gpu"),
          Option("price", required=True), de="preis"),
    _spec("pause", PROVIDER, "provider", "/pause [machine]", account._machine_or_all(c.Pause),
          SOME_MACHINE),
    _spec("resume", PROVIDER, "provider", "/resume [machine]",
          account._machine_or_all(c.Resume), SOME_MACHINE),
    _spec("earnings", PROVIDER, "provider", "/earnings", _no_args("earnings"),
          de="einnahmen"),
    _spec("removemachine", PROVIDER, "provider", "/removemachine <machine> [confirm]",
          account._remove_machine, MACHINE, Option("confirm", BOOL, form="confirm")),
    _spec("rotatetoken", PROVIDER, "provider", "/rotatetoken <machine>", account._rotate_token,
          MACHINE),
)  # fmt: skip

BY_NAME: dict[str, CommandSpec] = {s.name: s for s in SPECS}
_WORDS: dict[str, str] = {word: s.name for s in SPECS for word in s.words}
RENTER_COMMANDS = tuple(s.name for s in SPECS if s.audience == RENTER)
PROVIDER_COMMANDS = tuple(s.name for s in SPECS if s.audience == PROVIDER)


def command_name(word: str) -> str | None:
    """The canonical name a command word or alias stands for ("Mieten" -> "rent")."""
    return _WORDS.get(word.casefold().replace("_", "").replace("-", ""))


def closest(word: str) -> str | None:
    """The command name closest to a misspelt word, if any is close."""
    key = word.casefold().replace("_", "").replace("-", "")
    close = difflib.get_close_matches(key, list(BY_NAME), n=1) if len(key) <= 32 else []
    return close[0] if close else None


def group_words(group: str) -> tuple[str, ...]:
    """Every name and alias of the commands a Telegram router answers."""
    return tuple(word for s in SPECS if s.group == group for word in s.words)


def build(name: str, values: Mapping[str, Any]) -> c.Command:
    """The command ``name`` from typed option values (None: not given); raises GrammarError,
    DurationError or MoneyFormatError (``core.grammar.build_options`` converts them)."""
    spec = BY_NAME[name]
    given = {k: v for k, v in values.items() if v is not None}
    for option in spec.options:
        if option.required and (option.name not in given or given[option.name] == ""):
            raise GrammarError.keyed(
                "grammar.option_missing",
                name=name,
                option=option.name,
            )
    if name == "help":
        return _help(str(given.get("topic", "")))
    return BUILDERS[name](given)


def text_of(name: str, values: Values) -> str:
    """The option values as the grammar's words ("/gpus 4090 max=1.20 page=2"), for buttons
    that send a command again (paging, a choice between GPU models)."""
    words = [f"/{name}"]
    for option in BY_NAME[name].options:
        value = values.get(option.name)
        if value is None or value is False or str(value).strip() == "":
            continue
        words.append(option.form if value is True else option.form.format(str(value).strip()))
    return " ".join(words)
