"""/gpus pages reused for the same filters, for a moment, until the market changes.

Most searches are the same few (plain /gpus, one model, the next page) asked by many renters
at once, and a search with its count is the largest share of a chat update's cost. A page is
kept by its query (filters, sort, page) and given again while both hold:

* nothing in this process wrote the market since it was read: the composition root tells the
  cache of every write to the listing and machine tables (``invalidate``), so a renter never
  sees a page older than a change this process made (a rental taken, a listing paused);
* it is younger than ``ttl_s``: changes made by another process (a second service process,
  an agent heartbeat served elsewhere) show within that time. ``ttl_s`` 0 turns it off.

A page is a list to browse: quoting and confirming read the database every time, so a page
a moment old can never sell what is gone (the quote looks again, the confirm holds the GPUs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.domain.listings import ListingQuery
from core.services.views import SearchPage

MAX_PAGES = 2048  # distinct queries kept; more start over


class SearchCache:
    def __init__(self, ttl_s: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.monotonic = monotonic
        self.version = 0  # raised by every change of the market this process makes
        self.hits = self.misses = 0
        self._pages: dict[ListingQuery, tuple[float, int, SearchPage]] = {}

    def invalidate(self) -> None:
        self.version += 1

    def get(self, query: ListingQuery) -> SearchPage | None:
        kept = self._pages.get(query) if self.ttl_s > 0 else None
        if kept is not None and kept[1] == self.version and self.monotonic() - kept[0] < self.ttl_s:
            self.hits += 1
            return kept[2]
        self.misses += 1
        return None

    def put(self, query: ListingQuery, version: int, page: SearchPage) -> None:
        """Keep ``page``, read when the market was at ``version`` (taken before the read: a
        change during the read leaves the page out of date at once)."""
        if self.ttl_s <= 0 or version != self.version:
            return
        if len(self._pages) >= MAX_PAGES:
            self._pages.clear()
        self._pages[query] = (self.monotonic(), version, page)
