"""A clock tests move by hand."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: int = 1_790_000_000) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> int:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        return self._now

    def set(self, when: int) -> None:
        self._now = when
