"""/removemachine and /rotatetoken through the real dispatcher, in English and German."""

from __future__ import annotations

import dataclasses

import pytest

from bot.common.dispatch import Dispatcher
from core.domain.listings import ListingQuery
from core.errors import Forbidden
from core.grammar.registry import BY_NAME
from tests.support import add_provider, renter

LANGS = ("en", "de")


async def _provider(app, lang: str):
    who, machine_id = await add_provider(app, "prov", ["rtx4090"], 650_000)
    return dataclasses.replace(who, lang=lang), machine_id


async def _offered(app) -> int:
    view = await app.market.search(await renter(app, "bob", wallet=False), ListingQuery(), 1)
    return len(view.offers)


@pytest.mark.parametrize(
    ("lang", "asks", "done"),
    [("en", "removes prov-box for good", "prov-box is removed"),
     ("de", "entfernt prov-box endgültig", "prov-box ist entfernt")],
)  # fmt: skip
async def test_removemachine_asks_first_then_removes_listings_and_token(app, lang, asks, done):
    who, machine_id = await _provider(app, lang)
    token = (await app.providers.rotate_token(who, "prov-box")).token
    d = Dispatcher(app)
    assert await _offered(app) == 1

    ask = await d.handle_text(who, "/removemachine prov-box")
    assert ask.error and asks in ask.text, ask.text
    assert ask.private and [b.action for b in ask.buttons] == [
        "text:/removemachine prov-box confirm"
    ]
    assert await _offered(app) == 1 and [m.name for m in await app.providers.machines(who)] == [
        "prov-box"
    ]  # nothing changed yet
    assert await app.agents.authenticate(token) == machine_id

    removed = await d.handle_action(who, ask.buttons[0].action)
    assert not removed.error and done in removed.text, removed.text
    assert removed.core_call == "providers.remove_machine"
    assert await app.providers.machines(who) == []
    assert await _offered(app) == 0  # its listing left the market
    with pytest.raises(Forbidden):
        await app.agents.authenticate(token)  # the agent is locked out at once
    # the name is free again, and the removed machine stays removed after /resume
    again = await d.handle_text(who, "/addmachine prov-box")
    assert not again.error, again.text
    await d.handle_text(who, "/resume")
    assert await _offered(app) == 0


@pytest.mark.parametrize(("lang", "fragment"), [("en", "is paid or running"), ("de", "bezahlt")])
async def test_removemachine_is_refused_while_a_rental_is_paid_on_it(app, lang, fragment):
    who, _ = await _provider(app, lang)
    alice = await renter(app)
    d = Dispatcher(app)
    quote = await d.handle_text(alice, "/rent 4090 3h")
    await d.handle_action(alice, f"confirm:{quote.meta['rental_id']}")
    await app.settle()
    for request_id in list(app.wallet.pending):
        await app.wallet.approve(request_id)
    await app.settle()

    refused = await d.handle_text(who, "/removemachine prov-box confirm")
    assert refused.error and fragment in refused.text, refused.text
    assert "/pause prov-box" in refused.text
    assert [m.name for m in await app.providers.machines(who)] == ["prov-box"]


@pytest.mark.parametrize("lang", LANGS)
async def test_removemachine_bad_input_changes_nothing(app, lang):
    who, _ = await _provider(app, lang)
    d = Dispatcher(app)
    for line in ("/removemachine", "/removemachine a b", "/removemachine nope confirm"):
        reply = await d.handle_text(who, line)
        assert reply.error and reply.text, line
    group = dataclasses.replace(who, private_chat=False)
    assert (await d.handle_text(group, "/removemachine prov-box confirm")).error
    assert [m.name for m in await app.providers.machines(who)] == ["prov-box"]


@pytest.mark.parametrize(
    ("lang", "fragment"), [("en", "the old one stopped working"), ("de", "das alte gilt ab sofort")]
)
async def test_rotatetoken_shows_a_new_token_once_and_the_old_one_stops(app, lang, fragment):
    who, machine_id = await _provider(app, lang)
    old = (await app.providers.rotate_token(who, "prov-box")).token
    reply = await Dispatcher(app).handle_text(who, "/rotatetoken prov-box")
    assert not reply.error and fragment in reply.text, reply.text
    assert reply.private and reply.core_call == "providers.rotate_token"
    new = reply.text.split("RIGSHARE_AGENT_TOKEN=", 1)[1].split()[0]
    assert new != old and await app.agents.authenticate(new) == machine_id
    with pytest.raises(Forbidden):
        await app.agents.authenticate(old)
    group = dataclasses.replace(who, private_chat=False)
    refused = await Dispatcher(app).handle_text(group, "/rotatetoken prov-box")
    assert refused.error and "RIGSHARE_AGENT_TOKEN" not in refused.text
    assert await app.agents.authenticate(new) == machine_id  # unchanged


def test_new_provider_commands_are_in_the_registry_for_providers():
    for name in ("removemachine", "rotatetoken"):
        assert BY_NAME[name].audience == "provider" and BY_NAME[name].group == "provider"
