"""The command registry: typed options give the command the same words typed give, and a
bad value is refused with the text grammar's own message."""

from __future__ import annotations

import pytest

from core import grammar as g
from core.errors import GrammarError

SAME = [
    ("gpus", {"gpu": "4090", "max_price": "1.20", "region": "EU", "min_vram": 24, "page": 2}),
    ("gpus", {"min_ram": 64, "min_disk": 200, "min_cpu": 8, "min_cuda": "12.4", "sort": "vram"}),
    ("rent", {"gpu": "h100", "duration": "1 day", "count": 2, "region": "us"}),
    ("rent", {"gpu": "#17", "duration": "3h", "template": "jupyter", "ports": "8080,6006"}),
    ("rent", {"gpu": "4090", "duration": "90m", "image": "ghcr.io/me/train:v2", "disk": 200}),
    ("templates", {"gpu": "#3"}),
    ("extend", {"duration": "2h", "rental": "12"}),
    ("rate", {"stars": 4, "rental": "12", "comment": "fast  box"}),
    ("dispute", {"reason": "it rebooted", "rental": "#4"}),
    ("price", {"machine": "box1", "price": "0.70", "gpu": "rtx4090"}),
    ("removemachine", {"machine": "box1", "confirm": True}),
    ("rotatetoken", {"machine": "box1"}),
    ("lang", {"lang": "de"}),
    ("connect", {"action": "switch"}),
    ("receipts", {"csv": True}),
    ("help", {"topic": "mieten"}),
]


@pytest.mark.parametrize(("name", "values"), SAME)
def test_typed_options_build_what_their_words_parse_to(name, values):
    built = g.build_options(name, values)
    assert built == g.parse(g.text_of(name, values)), g.text_of(name, values)


BAD = [
    ("rent", {"gpu": "4900", "duration": "3h"}, "/rent 4900 3h"),
    ("rent", {"gpu": "4090", "duration": "0h"}, "/rent 4090 0h"),
    ("rent", {"gpu": "4090", "duration": "3h", "disk": 0}, "/rent 4090 3h disk=0"),
    ("rent", {"gpu": "4090", "duration": "3h", "ports": "22"}, "/rent 4090 3h ports=22"),
    ("gpus", {"max_price": "$abc"}, "/gpus max=$abc"),
    ("gpus", {"min_cuda": "twelve"}, "/gpus cuda>=twelve"),
    ("addmachine", {"machine": "my box"}, "/addmachine my box"),
    ("price", {"machine": "box1", "price": "-1"}, "/price box1 -1"),
    ("status", {"rental": "12abc"}, "/status 12abc"),
    ("help", {"topic": "frobnicate"}, "/help frobnicate"),
]


@pytest.mark.parametrize(("name", "values", "line"), BAD)
def test_a_bad_option_is_refused_like_the_same_words_typed(name, values, line):
    with pytest.raises(GrammarError) as typed:
        g.build_options(name, values)
    with pytest.raises(GrammarError) as text:
        g.parse(line)
    assert str(typed.value) == str(text.value)
    assert (typed.value.key, typed.value.params) == (text.value.key, text.value.params)


def test_a_missing_required_option_says_which():
    with pytest.raises(GrammarError, match="^/rent needs duration"):
        g.build_options("rent", {"gpu": "4090"})


@pytest.mark.parametrize(
    ("word", "name"),
    [("mieten", "rent"), ("Miete", "rent"), ("vorlagen", "templates"), ("abbrechen", "cancel"),
     ("stopp", "stop"), ("remove-machine", "removemachine"), ("rotate_token", "rotatetoken")],
)  # fmt: skip
def test_aliases_in_english_and_german(word, name):
    assert g.command_name(word) == name
    args = {"rent": "4090 3h", "removemachine": "box1", "rotatetoken": "box1"}.get(name, "")
    assert g.parse(f"/{word} {args}").name == name


def test_names_and_aliases_are_unique_and_fit_telegram_and_discord():
    words = [w for spec in g.SPECS for w in spec.words]
    assert len(words) == len(set(words))
    for spec in g.SPECS:
        assert all(w.isascii() and w.isalnum() and w.islower() and len(w) <= 32 for w in spec.words)
        assert len(spec.options) <= 25 and all(len(o.name) <= 32 for o in spec.options)
