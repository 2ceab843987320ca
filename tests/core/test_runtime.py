"""core.runtime: the event loop and garbage collector every long-running process gets."""

from __future__ import annotations

import asyncio
import gc
import sys
import types
from types import SimpleNamespace

from core import runtime


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_without_uvloop_the_standard_loop_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # importing it raises ImportError
    assert runtime.loop_factory() is None
    assert issubclass(runtime.run(_loop_type()), asyncio.BaseEventLoop)


def test_with_uvloop_installed_its_loop_runs(monkeypatch):
    class MarkedLoop(asyncio.SelectorEventLoop):
        pass

    fake = types.ModuleType("uvloop")
    fake.new_event_loop = MarkedLoop
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert runtime.run(_loop_type()) is MarkedLoop


def test_the_agent_tunes_the_collector_once_started_and_before_it_serves(monkeypatch):
    from provider_agent import run as cli  # the commands behind provider_agent.cli

    seen: list[str] = []
    monkeypatch.setattr(runtime, "tune_gc_for_serving", lambda: seen.append("tuned"))

    async def serve() -> None:
        seen.append("serving")

    daemon = SimpleNamespace(executor=SimpleNamespace(backend=object()), run=serve)
    runtime.run(cli._serve(daemon))
    assert seen == ["tuned", "serving"]


def test_tuning_freezes_start_up_objects_and_makes_full_passes_rare():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        runtime.tune_gc_for_serving()
        assert gc.get_threshold()[2] == runtime.FULL_GC_EVERY
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
