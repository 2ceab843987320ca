"""The one place that reads the wall clock; everything else gets a Clock injected."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> int:
        return int(time.time())
