"""Message catalogues (bot/common/locales/*.toml); every user-facing text lives there."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANG = "en"
SUPPORTED = ("en", "de")


@cache
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.toml"
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            else:
                flat[name] = value

    walk("", data)
    return flat


def t(lang: str, key: str, **params: object) -> str:
    """The text for ``key`` in ``lang`` (English when missing), formatted with ``params``."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANG)[key]
    return text.format(**params) if params else text
