"""Long-poll authentication is cached, and a rotated token is forgotten."""

from __future__ import annotations

import asyncio

import pytest

from bot.web.auth_cache import PollAuthCache
from core.errors import Forbidden
from core.services.providers import hash_token
from tests.bot.agent_support import add_host


async def test_cached_tokens_are_revalidated_in_bulk_and_rotation_evicts(app, monkeypatch):
    host, other = await add_host(app, "one"), await add_host(app, "two")
    cache = PollAuthCache(app.agents)
    lookups = []
    real = app.agents.machines_for_token_hashes

    async def counted(hashes):
        lookups.append(len(hashes))
        return await real(hashes)

    monkeypatch.setattr(app.agents, "machines_for_token_hashes", counted)
    for _ in range(3):
        assert await cache.machine(host.token) == host.machine_id
    assert await cache.machine(other.token) == other.machine_id
    assert lookups == [1, 1]
    # polls that arrive together are looked up together
    cache.forget(hash_token(host.token))
    cache.forget(hash_token(other.token))
    both = await asyncio.gather(cache.machine(host.token), cache.machine(other.token))
    assert both == [host.machine_id, other.machine_id] and lookups[-1] == 2
    with pytest.raises(Forbidden):
        await cache.machine("rsa_unknown")

    who = await app.users.identify("terminal", "one", "one")
    fresh = await app.providers.rotate_token(who, "one-box")
    assert await cache.machine(host.token) == host.machine_id  # still cached...
    assert await cache.revalidate() == 1  # ...until the next bulk check
    with pytest.raises(Forbidden):
        await cache.machine(host.token)
    assert await cache.machine(other.token) == other.machine_id

    # the new token's first poll forgets the old one at once, without waiting for a check
    who2 = await app.users.identify("terminal", "two", "two")
    newer = await app.providers.rotate_token(who2, "two-box")
    assert await cache.machine(newer.token) == other.machine_id
    with pytest.raises(Forbidden):
        await cache.machine(other.token)
    cache.forget(hash_token(fresh.token))  # forgetting an unknown token is harmless
