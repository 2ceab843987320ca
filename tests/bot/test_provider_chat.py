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


async def _prices(app, who) -> list[int]:
    return [price for m in await app.providers.machines(who) for _, _, price, _ in m.listings]


@pytest.mark.parametrize(
    ("lang", "fragment"), [("en", "far above what GPUs rent for"), ("de", "weit über dem")]
)
async def test_implausible_price_asks_first_and_changes_nothing(app, lang, fragment):
    who, _ = await _provider(app, lang)
    dispatcher = Dispatcher(app)
    reply = await dispatcher.handle_text(who, "/price prov-box 1000")
    assert reply.error and fragment in reply.text, reply.text
    assert "/price prov-box 1000.00 confirm" in reply.text
    assert await _prices(app, who) == [650_000]  # nothing changed
    # the button (or typing "confirm") sets it
    assert [b.action for b in reply.buttons] == ["text:/price prov-box 1000.00 confirm"]
    done = await dispatcher.handle_action(who, reply.buttons[0].action)
    assert not done.error, done.text
    assert await _prices(app, who) == [1_000_000_000]


@pytest.mark.parametrize(("lang", "fragment"), [("en", "more than 5×"), ("de", "5-Fache")])
async def test_big_jump_from_current_price_asks_first(app, lang, fragment):
    who, _ = await _provider(app, lang)
    reply = await Dispatcher(app).handle_text(who, "/price prov-box 6.50")
    assert reply.error and fragment in reply.text, reply.text
    assert await _prices(app, who) == [650_000]
    ok = await Dispatcher(app).handle_text(who, "/price prov-box 0.90")  # a normal change
    assert not ok.error and await _prices(app, who) == [900_000]


@pytest.mark.parametrize(
    ("lang", "fragment"),
    [("en", "'prov-box' has no H100 80GB; its GPUs: 2× RTX 4090"),
     ("de", "'prov-box' hat keine H100 80GB; ihre GPUs: 2× RTX 4090")],
)  # fmt: skip
async def test_price_for_a_model_the_machine_lacks_names_its_gpus(app, lang, fragment):
    who, _ = await _provider(app, lang, gpus=("rtx4090", "rtx4090"))
    reply = await Dispatcher(app).handle_text(who, "/price prov-box h100 0.5")
    assert reply.error and fragment in reply.text, reply.text
    assert "agent" not in reply.text.lower()


@pytest.mark.parametrize(
    ("lang", "fragment"),
    [("en", "box2: off the market until its agent is online"),
     ("de", "box2: nicht im Angebot, bis ihr Agent online ist")],
)  # fmt: skip
async def test_resume_of_a_machine_whose_agent_is_not_online_says_so(app, lang, fragment):
    who, _ = await _provider(app, lang)
    dispatcher = Dispatcher(app)
    await dispatcher.handle_text(who, "/addmachine box2")  # its agent never started
    await dispatcher.handle_text(who, "/pause box2")
    reply = await dispatcher.handle_text(who, "/resume box2")
    assert not reply.error and fragment in reply.text, reply.text
    assert "Offered again: box2" not in reply.text and "Wieder im Angebot: box2" not in reply.text
