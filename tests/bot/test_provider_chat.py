"""The provider's conversation through the real dispatcher, in English and German: machine
names, implausible prices, missing GPU models, resuming offline machines, removing machines
and rotating agent tokens, failed rentals in /earnings."""

from __future__ import annotations

import dataclasses

import pytest

from bot.common.dispatch import Dispatcher
from tests.support import add_provider

LANGS = ("en", "de")


async def _provider(app, lang: str, gpus=("rtx4090",), price=650_000):
    who, machine_id = await add_provider(app, "prov", list(gpus), price)
    return dataclasses.replace(who, lang=lang), machine_id


@pytest.mark.parametrize(
    ("lang", "fragment"),
    [("en", "A machine name is one word"), ("de", "Ein Maschinenname ist ein Wort")],
)
async def test_addmachine_with_a_space_is_refused_and_shows_the_right_form(app, lang, fragment):
    who, _ = await _provider(app, lang)
    reply = await Dispatcher(app).handle_text(who, "/addmachine my box")
    assert reply.error and fragment in reply.text
    assert "/addmachine my-box" in reply.text and "/addmachine my region=eu" in reply.text
    machines = await app.providers.machines(who)
    assert [m.name for m in machines] == ["prov-box"]  # nothing added

    ok = await Dispatcher(app).handle_text(who, "/addmachine box2 region=us-east")
    assert not ok.error, ok.text
    added = {m.name: m.region for m in await app.providers.machines(who)}
    assert added["box2"] == "us-east"
