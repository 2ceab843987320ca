"""The service's keeper loop: one job that raises skips nothing else."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot import serve


async def test_a_failing_keeper_job_does_not_skip_the_others(caplog):
    done: list[str] = []

    async def broken() -> None:
        raise RuntimeError("one bad row")

    def record(name: str):
        async def step() -> None:
            done.append(name)

        return step

    app = SimpleNamespace(
        keeper=SimpleNamespace(tick=broken),
        agents=SimpleNamespace(
            mark_silent_offline=record("silent"),
            refresh_all_reliability=broken,
            prune_samples=record("prune"),
        ),
        settings=SimpleNamespace(keeper_interval_s=60),
    )
    loop = asyncio.create_task(serve._keeper_loop(app))
    await asyncio.sleep(0.05)
    loop.cancel()
    assert done == ["silent", "prune"]
    assert "keeper tick failed" in caplog.text and "refreshing reliability failed" in caplog.text
