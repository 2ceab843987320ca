"""The one place that reads the wall clock; everything else gets a Clock injected."""

from __future__ import annotations

import gc
import time


class SystemClock:
    def now(self) -> int:
        return int(time.time())


FULL_GC_EVERY = 1000  # young-generation passes between full collections (CPython: 10)


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector out of the request path of a long-running service.

    Everything alive after start-up (modules, services, caches) is collected once and frozen
    (``gc.freeze``). Full collections are made rare: with thousands of agents holding
    long-polls, a full pass over their live requests stalls the process for hundreds of
    milliseconds, several times a minute at CPython's default. Cyclic garbage is still
    collected by the young generations; what reaches the old one waits longer.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_EVERY)
