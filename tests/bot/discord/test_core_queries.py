"""The two small core queries the Discord front end needs: recent rentals and stored settings."""

from __future__ import annotations

import pytest

from core.domain.listings import ListingQuery
from core.errors import ValidationError
from tests.support import add_provider, renter


async def test_recent_lists_own_paid_rentals_newest_first_without_quotes(app):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    await add_provider(app, "prov2", ["h100"], 2_000_000)
    alice, bob = await renter(app), await renter(app, "bob")
    assert await app.rentals.recent(alice) == []

    await app.market.quote(bob, ListingQuery(model="rtx4090"), 3600)  # a bare quote of bob's
    first = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, first.rental_id)
    second = await app.market.quote(alice, ListingQuery(model="h100"), 3600)
    await app.rentals.confirm(alice, second.rental_id)

    refs = await app.rentals.recent(alice)
    assert [(r.rental_id, r.gpu_name, r.state) for r in refs] == [
        (second.rental_id, "H100 80GB", "awaiting_payment"),
        (first.rental_id, "RTX 4090", "awaiting_payment"),
    ]
    assert await app.rentals.recent(bob) == []  # quotes are not rentals yet
    assert len(await app.rentals.recent(alice, limit=1)) == 1
    assert len(await app.rentals.recent(alice, limit=0)) == 1  # clamped, never empty by mistake


async def test_key_value_settings_survive_and_replace(app):
    assert await app.kv.get("discord.boards") is None
    await app.kv.put("discord.boards", '[{"guild": 1}]')
    await app.kv.put("discord.boards", '[{"guild": 2}]')
    assert await app.kv.get("discord.boards") == '[{"guild": 2}]'
    with pytest.raises(ValidationError):
        await app.kv.put("k" * 65, "x")
    with pytest.raises(ValidationError):
        await app.kv.get("")
