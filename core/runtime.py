"""How every long-running rigshare process runs: its event loop and its garbage collector.

One home for both, called by each entry point (``rigshare run``/``chat``/``demo`` in
``bot.cli``, ``rigshare-agent`` in ``provider_agent.cli``), so a service and an agent are tuned
alike. Standard library only (uvloop is optional), so the provider agent may import it too.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
FULL_GC_EVERY = 1000  # young-generation passes between full collections (CPython: 10)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed (``pip install 'rigshare[fast]'``): its socket
    and timer handling costs less CPU per update than asyncio's own; else None (the
    standard loop). Nothing else changes: every code path runs on either."""
    try:
        import uvloop
    except ImportError:
        return None
    # typed here because uvloop is optional: where it is absent the checker sees Any
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the best loop this machine has (``loop_factory``)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector out of the request path of a long-running process;
    call it once start-up is done (the app is built, the servers listen).

    Everything alive after start-up (modules, services, caches) is collected once and frozen
    (``gc.freeze``): later passes never walk it again. Full collections are made rare: with
    thousands of agents holding long-polls, a full pass over their live requests stalls the
    process for hundreds of milliseconds, several times a minute at CPython's default.
    Cyclic garbage is still collected by the young generations; what reaches the old one
    waits longer.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_EVERY)
