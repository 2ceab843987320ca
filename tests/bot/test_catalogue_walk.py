"""The message catalogues, walked key by key (issue 13): English and German have the same keys
and the same {placeholders}, every text renders with sample parameters in both languages,
German texts name no English state or sort, and a command a text names exists."""

from __future__ import annotations

import re
import string

import pytest

from bot.common.i18n import SUPPORTED, catalogue, t
from core.grammar.commands import COMMANDS

# English for these lives in code (the slash commands' descriptions): the German catalogue
# alone carries them. (The errors' English, err.*, is in core/locales/en.toml.)
GERMAN_ONLY = ("discord.cmd.", "discord.opt.")
# chain refusals whose German fills other names: the escrow status in German (status_de), and
# no English decoding of a panic code (meaning)
PLACEHOLDERS_DIFFER = {"err.chain.wrong_status", "err.chain.panic"}
# commands outside the grammar: the conversation's /cancel, Discord's /board
EXTRA_COMMANDS = {"cancel", "board"}
# English words a German reader must not meet for states and sorts (issue 13)
ENGLISH_WORDS = re.compile(
    r"\b(awaiting|funded|provisioning|settled|cancelled|sorted by|reliability|price)\b"
)
COMMAND = re.compile(r"(?:^|(?<=[\s(„\"']))/([a-z]+)\b", re.M)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


class _Sample(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def test_english_and_german_have_the_same_keys():
    en, de = set(catalogue("en")), set(catalogue("de"))
    assert sorted(en - de) == [], "German lacks these"
    assert sorted(k for k in de - en if not k.startswith(GERMAN_ONLY)) == [], "English lacks"


def test_english_and_german_have_the_same_placeholders():
    en, de = catalogue("en"), catalogue("de")
    wrong = {k: (_fields(en[k]), _fields(de[k])) for k in en if _fields(en[k]) != _fields(de[k])}
    assert set(wrong) == PLACEHOLDERS_DIFFER


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_text_renders_with_sample_parameters(lang):
    for key, text in catalogue(lang).items():
        rendered = text.format_map(_Sample())  # a stray brace or bad field raises here
        assert all(f"<{f}>" in rendered for f in _fields(text)), key
        if _fields(text):  # through the catalogue's own function, as the front ends call it
            assert t(lang, key, **{f: "x" for f in _fields(text)}), key


def test_german_texts_name_no_english_state_or_sort():
    leftovers = {}
    for key, text in catalogue("de").items():
        # option values are what a user types (sort=price): not prose
        prose = re.sub(r"\b[a-z]+=[\w|.$<>…-]+", "", text)
        prose = re.sub(r"\{\w*\}", "", prose)  # placeholders
        prose = re.sub(r"/\w+", "", prose)  # command names (/price)
        found = ENGLISH_WORDS.findall(prose)
        if found:
            leftovers[key] = found
    assert leftovers == {}


def test_texts_name_only_commands_that_exist():
    known = set(COMMANDS) | EXTRA_COMMANDS
    unknown = {
        (lang, key): sorted(set(COMMAND.findall(text)) - known)
        for lang in SUPPORTED
        for key, text in catalogue(lang).items()
        if set(COMMAND.findall(text)) - known
    }
    assert unknown == {}
