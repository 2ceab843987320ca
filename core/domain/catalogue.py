"""The error catalogues (``core/locales/<lang>.toml``, section ``[err]``): every text a core
error shows to a person, in English and German, and nowhere else.

Why here: the core raises errors by key and parameters only (``CoreError.keyed("key",
**params)``), yet an error still needs its English ``user_message`` for logs, ``str(exc)``,
the agent API and the tests that match on it. The core may not import the front ends
(``bot``), so the error texts live beside the core, in files this stdlib-only module reads
with ``tomllib``; the front ends' catalogue (``bot/common/i18n.py``) reads the same files as
its ``err.*`` entries, so a German user reads ``err.<key>`` from ``de.toml`` and the English
here is the same text an English user reads. ``pyproject``'s package data ships
``core/locales/*`` with the wheel.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("en", "de")
SECTION = "err"


@cache
def error_texts(lang: str) -> dict[str, str]:
    """The ``[err]`` section of ``lang``'s catalogue as one flat ``key -> template`` map (the
    keys without the ``err.`` prefix; a sub-table ``[err.chain]`` gives ``chain.<key>``)."""
    with (LOCALES / f"{lang}.toml").open("rb") as fh:
        data = tomllib.load(fh)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, object]) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            elif isinstance(value, str):
                flat[name] = value
            else:
                raise TypeError(f"{lang}.toml: err.{name} is not text")

    section = data.get(SECTION, {})
    walk("", section)
    return flat


def english(key: str, params: dict[str, object] | None = None) -> str:
    """The English text of error ``key`` with ``params`` filled in.

    A key the catalogue lacks (a test fails on every one the core raises) or a template whose
    placeholders the raise does not give comes back as the key and its parameters, so the
    error still shows and says what is missing instead of turning into a crash."""
    template = error_texts("en").get(key)
    if template is None:
        return f"{key} {params}" if params else key
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError, ValueError):
        return f"{template} {params}"


def placeholders(template: str) -> frozenset[str]:
    """The names a template fills in (``{rental_id}``, ``{limit:,}`` -> ``limit``)."""
    return frozenset(
        name.split(".")[0].split("[")[0]
        for _, name, _, _ in string.Formatter().parse(template)
        if name
    )
