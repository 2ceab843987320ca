"""Message catalogues; every user-facing text lives in them: the front ends' texts in
bot/common/locales/<lang>.toml, the errors' texts (``err.*``) in core/locales/<lang>.toml,
beside the core that raises them by key (``core.domain.catalogue`` says why). ``catalogue``
reads both as one."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from bot.common import formats
from core.domain.catalogue import SECTION, error_texts
from core.domain.rentals import StateName
from core.errors import CoreError

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANG = "en"
SUPPORTED = ("en", "de")

# an outbox payload: a JSON object read back from the database, so its values are whatever
# JSON holds (the renderers check what they show)
Payload = Mapping[str, Any]


@cache
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.toml"
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:  # TOML: any value
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            else:
                flat[name] = value

    walk("", data)
    for key, text in error_texts(lang).items():
        name = f"{SECTION}.{key}"
        if name in flat:  # one home for each text: an error's is core/locales
            raise ValueError(f"{path.name}: {name} belongs in core/locales/{lang}.toml")
        flat[name] = text
    return flat


def t(lang: str, key: str, /, **params: object) -> str:
    """The text for ``key`` in ``lang`` (English when missing), formatted with ``params``."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANG)[key]
    return text.format(**params) if params else text


def word(lang: str, section: str, value: str) -> str:
    """A state, status or sort name (``section.value`` in the catalogue) in ``lang``; the
    value itself, readable, for one the catalogue does not know."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    key = f"{section}.{value}"
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANG).get(key)
    return text if text is not None else str(value).replace("_", " ")


def localized(lang: str, params: dict[str, object]) -> dict[str, object]:
    """An error's parameters as ``lang`` writes them: amounts the core marked and rental
    states (``StateName``) in the reader's language, the rest as they are."""
    return {
        k: word(lang, "state", v.state) if isinstance(v, StateName) else formats.param(lang, v)
        for k, v in params.items()
    }


def error_text(lang: str, exc: CoreError) -> str:
    """A core error in ``lang``: its catalogue entry ``err.<key>`` when the catalogue has one,
    else the English text it was raised with (an error from outside the core may carry a key
    the catalogues lack)."""
    lang = lang if lang in SUPPORTED else DEFAULT_LANG
    text = exc.user_message
    if exc.key:
        template = catalogue(lang).get(f"err.{exc.key}")
        if template is not None:
            try:
                text = template.format(**localized(lang, exc.params))
            except (KeyError, IndexError, ValueError):  # a catalogue typo must not hide the error
                text = exc.user_message
    return text if not exc.hint else f"{text} {exc.hint}"


def reason_text(lang: str, payload: Payload) -> str:
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
