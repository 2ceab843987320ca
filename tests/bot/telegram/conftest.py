"""A Telegram front end over an application on the fakes (auto-approving wallet, simulated
agents) with a small market, driven through aiogram's real Dispatcher."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.settings import Settings
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import Harness
from tests.support import add_provider, pg_drop_schema, pg_exec

PRICE_4090 = 350_000  # $0.35 per GPU-hour


@pytest.fixture
def tg_settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        chain="fake",
        database_url=f"sqlite:///{tmp_path}/telegram.sqlite3",
        telegram_token=TOKEN,
    )


async def market(app) -> dict[str, int]:
    """Twelve machines; returns the machine id of each provider."""
    machines = {
        "hal": (await add_provider(app, "hal", ["rtx4090"], PRICE_4090))[1],
        "ida": (await add_provider(app, "ida", ["rtx4090"], 420_000, region="us"))[1],
        "joe": (await add_provider(app, "joe", ["h100"], 2_100_000))[1],
    }
    for i in range(9):
        machines[f"p{i}"] = (await add_provider(app, f"p{i}", ["rtx3090"], 200_000 + i * 10_000))[1]
    return machines


@pytest.fixture
async def tg_app(tg_settings, clock):
    app = build_app(tg_settings, clock=clock, auto_approve=True)
    await app.start()
    app.test_machines = await market(app)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def tg(tg_app):
    harness = Harness(tg_app)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def tg_each_db(settings, clock):
    """A front end over an application on SQLite and on PostgreSQL (``settings``)."""
    if settings.database_schema:
        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{settings.database_schema}"')
    app = build_app(
        settings.model_copy(update={"telegram_token": SecretStr(TOKEN)}),
        clock=clock,
        auto_approve=True,
    )
    await app.start()
    await market(app)
    tg = Harness(app)
    await tg.start()
    try:
        yield tg
    finally:
        await tg.close()
        await app.close()
        if settings.database_schema:
            await asyncio.to_thread(pg_drop_schema, settings.database_schema)
