"""Autocomplete: GPU models from the catalogue, durations, the user's own rentals."""

from __future__ import annotations

from core.domain.gpus import all_models, resolve_gpu
from core.domain.listings import ListingQuery
from tests.bot.discord.fakes import FakeUser
from tests.bot.discord.support import cog_command, principal_of, with_wallet
from tests.support import add_provider


async def complete(bot, command: str, option: str, interaction, current: str):
    """Run the autocomplete callback discord.py registered for ``command``'s ``option``."""
    param = next(p for p in cog_command(bot, command)._params.values() if p.name == option)
    return await param.autocomplete(interaction, current)


async def test_gpu_models_match_name_alias_and_resolve_back(bot, dm, alice):
    everything = await complete(bot, "rent", "gpu", dm.interaction(alice), "")
    assert len(everything) == len(all_models())
    for choice in everything:  # every offered value reads back as that one model
        assert resolve_gpu(choice.value).name == choice.value
    a100 = await complete(bot, "gpus", "gpu", dm.interaction(alice), "a100")
    assert [c.value for c in a100] == ["A100 40GB", "A100 80GB"]
    assert [
        c.name for c in await complete(bot, "rent", "gpu", dm.interaction(alice), "rtx-409")
    ] == ["RTX 4090 · 24 GB"]
    assert await complete(bot, "rent", "gpu", dm.interaction(alice), "voodoo") == []


async def test_durations_echo_a_valid_entry_then_presets(bot, dm, alice):
    typed = await complete(bot, "rent", "duration", dm.interaction(alice), "90m")
    assert typed[0].value == "90m" and "1h 30m" in typed[0].name
    ones = [c.value for c in await complete(bot, "extend", "duration", dm.interaction(alice), "1")]
    assert ones == ["1h", "12h", "1d", "1w"]  # "1" alone is not a duration
    assert [
        c.value for c in await complete(bot, "rent", "duration", dm.interaction(alice), "0h")
    ] == []


async def test_rentals_are_the_users_own_newest_first(bot, app, dm, alice, transcript):
    await add_provider(app, "p1", ["rtx4090"], 650_000)
    await add_provider(app, "p2", ["h100"], 2_000_000)
    who = await with_wallet(bot, alice)
    ids = []
    for model in ("rtx4090", "h100"):
        quote = await app.market.quote(who, ListingQuery(model=model), 3600)
        await app.rentals.confirm(who, quote.rental_id)
        ids.append(quote.rental_id)
    choices = await complete(bot, "status", "rental", dm.interaction(alice), "")
    assert [c.value for c in choices] == [str(ids[1]), str(ids[0])]
    assert choices[0].name == f"#{ids[1]} · H100 80GB · awaiting payment"
    assert [
        c.value for c in await complete(bot, "stop", "rental", dm.interaction(alice), "4090")
    ] == [str(ids[0])]
    bob = FakeUser(transcript, "bob")
    await principal_of(bot, bob)
    assert await complete(bot, "rate", "rental", dm.interaction(bob), "") == []
