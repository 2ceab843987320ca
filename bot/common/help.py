"""/help, generated from the command registry (core/grammar/registry.py) in the user's
language: every command with its usage, one line and its aliases; ``/help <command>`` adds
what each option means."""

from __future__ import annotations

import functools

from bot.common.i18n import t
from bot.common.render import regions_line
from core.grammar import BY_NAME, SPECS
from core.grammar.registry import BOOL, PROVIDER, RENTER, CommandSpec, Option


def _aliases(lang: str, spec: CommandSpec) -> str:
    if not spec.aliases:
        return ""
    return " · " + t(lang, "help.also", aliases=", ".join(f"/{a}" for a in spec.aliases))


def _line(lang: str, spec: CommandSpec) -> str:
    return f"  {spec.usage}\n      {t(lang, spec.summary_key)}{_aliases(lang, spec)}"


def overview(lang: str) -> str:
    parts = []
    for audience, heading in ((RENTER, "help.renting"), (PROVIDER, "help.providing")):
        parts.append(t(lang, heading))
        parts += [_line(lang, s) for s in SPECS if s.audience == audience]
    parts.append(t(lang, "help.footer"))
    return "\n".join(parts)


def _typed(o: Option) -> str:
    """How the option is typed in a chat line: "max=…", "verified", "<duration>"."""
    if o.kind == BOOL:
        return o.form
    return f"<{o.name}>" if o.form == "{}" else o.form.replace("{}", "…")


def topic(lang: str, name: str) -> str:
    spec = BY_NAME[name]
    parts = [spec.usage, t(lang, spec.summary_key)]
    if spec.options:
        parts.append(t(lang, "help.options"))
        parts += [f"  {_typed(o)}  {t(lang, spec.option_key(o.name))}" for o in spec.options]
    if any(o.name == "region" for o in spec.options):
        parts.append(regions_line(lang, full=True))  # the vocabulary region=… takes
    if spec.aliases:
        parts.append(t(lang, "help.also", aliases=", ".join(f"/{a}" for a in spec.aliases)))
    if spec.audience == PROVIDER:
        parts.append(t(lang, "help.private_only"))
    return "\n".join(parts)


@functools.lru_cache(maxsize=256)  # the catalogues and the registry never change at run time
def help_text(lang: str, name: str | None) -> str:
    """All commands, or the one named (a canonical name: the grammar resolved aliases)."""
    return overview(lang) if name is None else topic(lang, name)
