"""Message catalogues (bot/common/locales/*.toml); every user-facing text lives there."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from core.errors import CoreError

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


def t(lang: str, key: str, /, **params: object) -> str:
    """The text for ``key`` in ``lang`` (English when missing), formatted with ``params``."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANG)[key]
    return text.format(**params) if params else text


def error_text(lang: str, exc: CoreError) -> str:
    """A core error in ``lang``: its catalogue entry ``err.<key>`` when the catalogue has one,
    else the English text the core raised it with."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    text = exc.user_message
    if exc.key:
        template = catalogue(lang).get(f"err.{exc.key}")
        if template is not None:
            try:
                text = template.format(**exc.params)
            except (KeyError, IndexError, ValueError):  # a catalogue typo must not hide the error
                text = exc.user_message
    return text if not exc.hint else f"{text} {exc.hint}"


def reason_text(lang: str, payload: dict) -> str:
    """A notification's ``reason`` in ``lang``: from its catalogue key (``CoreError.as_reason``)
    when the catalogue has it, else the English text it was stored with."""
    reason = str(payload.get("reason", "-"))
    key, params = payload.get("reason_key"), payload.get("reason_params")
    if not isinstance(key, str) or not isinstance(params, dict):
        return reason
    template = catalogue(lang if lang in SUPPORTED else DEFAULT_LANG).get(f"err.{key}")
    try:
        return template.format(**params) if template is not None else reason
    except (KeyError, IndexError, ValueError):  # a catalogue typo must not hide the reason
        return reason


def language_of(code: str | None) -> str:
    """The supported language for a platform's language code ("de-AT" -> "de"), else English."""
    base = (code or "").split("-")[0].split("_")[0].lower()
    return base if base in SUPPORTED else DEFAULT_LANG
