"""``GET /health`` answers while the process serves and says whether it leads."""

from __future__ import annotations

import aiohttp

from bot.web.app import WebServer
from bot.web.health import Health


async def test_health_reports_leadership(app):
    health = Health(instance="test-1")
    web = await WebServer(app, health=health).start()
    try:
        async with aiohttp.ClientSession() as http:

            async def get() -> dict:
                async with http.get(f"{web.url}/health") as resp:
                    assert resp.status == 200
                    assert resp.headers["Cache-Control"] == "no-store"
                    return await resp.json()

            first = await get()
            assert first["ok"] and first["instance"] == "test-1" and first["leader"] is False
            health.set_leader(True)
            assert (await get())["leader"] is True
            health.set_leader(False)
            health.set_leader(True)
            now = await get()
            assert now["leader"] is True and now["leader_terms"] == 2
    finally:
        await web.stop()
