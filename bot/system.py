"""The one place that reads the wall clock; everything else gets a Clock injected."""

from __future__ import annotations

import gc
import time


class SystemClock:
    def now(self) -> int:
        return int(time.time())


def freeze_startup_objects() -> None:
    """Move everything alive after start-up out of the cyclic collector's way.

    Modules, services and caches live as long as the process; a full collection walking them
    stalls every request for tens of milliseconds (the agent API's tail latency), so they are
    collected once and frozen (``gc.freeze``).
    """
    gc.collect()
    gc.freeze()
