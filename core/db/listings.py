"""Listings and their search: what is offered, on which machine, with how many free GPUs.

A listing is offered or not (its status); which of its GPUs are taken is kept per GPU
(``core/db/gpus.py``), and how many are free in ``free_gpus``, kept in step by the same
transactions. The search joins each listing's machine for its specs and instance offer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, or_, select, update
from sqlalchemy.orm import aliased, defer

from core.db import tables
from core.db.repo_base import Repo, by_key, rowcount
from core.domain.listings import COUNT_CAP, ListingQuery, ListingStatus, check_listing_move
from core.domain.model import Listing, Machine, MachineTemplate
from core.domain.regions import stored_words
from core.repo_ports import Offer

__all__ = ["SEARCHED_TABLES", "Listings", "Offer", "needs_machine"]

# what a search reads: a write to any of them may change a search's answer
SEARCHED_TABLES = ("listings", "machines", "machine_gpus", "machine_templates")

L, M, G, T = (
    tables.listings.c,
    tables.machines.c,
    tables.machine_gpus.c,
    tables.machine_templates.c,
)


def needs_machine(query: ListingQuery) -> bool:
    """Whether the search filters on the machine (specs, what it runs) beyond ``ready``."""
    return bool(
        query.min_ram_gb
        or query.min_disk_gb
        or query.min_cpu_cores
        or query.min_cuda
        or not query.instance.empty
    )


def _conditions(query: ListingQuery, *, sorted_walk: bool = True) -> list[ColumnElement[bool]]:
    """The WHERE of a search: offered, matching the filters, enough free GPUs, and a machine
    that runs what the renter asked for (``ready``: its default, without a join).
    ``sorted_walk=False`` (a count): range filters may use their indexes."""
    # Only AVAILABLE rows: the keeper releases expired holds, and a plain equality keeps
    # every search on an index (an OR over held rows made SQLite scan the table).
    conds: list[ColumnElement[bool]] = [L.status == ListingStatus.AVAILABLE]
    if query.model:
        conds.append(L.gpu_model == query.model)
    if query.listing_id is not None:
        conds.append(L.id == query.listing_id)
    need = max(1, query.gpu_count or 1)

    # Range filters are written as "column + 0": the expression cannot select an index,
    # so the planner walks the index of the sort order and stops at the page instead of
    # range-scanning a filter's index and sorting every match (SQLite's documented idiom;
    # harmless on PostgreSQL).
    def ranged(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column + 0 if sorted_walk else column

    if need > 1:
        conds.append(ranged(L.gpu_count) >= need)
    conds.append(ranged(L.free_gpus) >= need)
    if query.min_vram_gb:
        conds.append(ranged(L.vram_gb) >= query.min_vram_gb)
    if query.max_vram_gb is not None:
        conds.append(ranged(L.vram_gb) <= query.max_vram_gb)
    if query.max_price_per_hour is not None:
        conds.append(ranged(L.price_per_hour) <= query.max_price_per_hour)
    if query.region:
        # a broad region finds the regions it contains (core.domain.regions)
        conds.append(L.region.in_(sorted(stored_words(query.region))))
    if query.min_reliability_bps:
        conds.append(ranged(L.reliability_bps) >= query.min_reliability_bps)
    if query.verified_only:
        conds.append(L.verified.is_(True))
    if query.exclude_ids:
        conds.append(L.id.not_in(list(query.exclude_ids)))
    if not needs_machine(query):
        conds.append(L.ready.is_(True))
        return conds
    # the machine: an instance host with complete specs (an agent without instances is
    # never rented out)
    conds.append(M.backend.is_not(None))
    conds.append(M.share_ram_mib.is_not(None))
    if query.min_ram_gb:
        conds.append(M.share_ram_mib >= query.min_ram_gb * 1024)
    if query.min_disk_gb:
        conds.append(M.share_disk_gib >= query.min_disk_gb)
    if query.min_cpu_cores:
        conds.append(M.share_cpu_millis >= query.min_cpu_cores * 1000)
    if query.min_cuda:
        conds.append(M.cuda_number >= query.min_cuda)
    conds += instance_conditions(query, need)
    return conds


def instance_conditions(query: ListingQuery, need: int) -> list[ColumnElement[bool]]:
    """Machines that run what ``query.instance`` asks for on ``need`` GPUs."""
    ask = query.instance
    conds: list[ColumnElement[bool]] = []
    if ask.template is None and ask.image is None:
        conds.append(M.default_template.is_not(None))  # the machine's default template runs
    if ask.template is not None:
        conds.append(exists().where(T.machine_id == M.id, T.name == ask.template))
    if ask.image is not None:
        ref = ask.image.reference
        conds.append(
            or_(
                and_(M.custom_images.is_(True), M.registries.like(f"% {ask.image.registry} %")),
                exists().where(T.machine_id == M.id, T.image == ref),
            )
        )
    if ask.ports:
        conds.append(M.max_ports >= len(ask.ports))
    if ask.disk_gb:
        # the share of ``need`` GPUs, floor(disk * need / total) >= asked, in integers
        conds.append(M.disk_free_gib * need >= ask.disk_gb * M.gpu_total)
    return conds


class Listings(Repo):
    async def get(self, listing_id: int) -> Listing | None:
        return await by_key(self.s, Listing, listing_id)

    async def for_machine(self, machine_id: int) -> Sequence[Listing]:
        q = select(Listing).where(L.machine_id == machine_id)
        return (await self.s.execute(q.order_by(L.id))).scalars().all()

    async def search(self, query: ListingQuery, now: int) -> list[Offer]:
        """Offerable listings matching the query, best first, one page."""
        rows = (await self.s.execute(_search_statement(query))).tuples().all()
        return [Offer(listing, machine, listing.free_gpus) for listing, machine in rows]

    async def best_offer(
        self, query: ListingQuery, now: int
    ) -> tuple[Offer, MachineTemplate | None] | None:
        """The first hit of ``search`` (a quote asks for one) with, in the same statement, the
        template its instance would run: the one the query's instance ask names, else the
        machine's default (None where the machine has no such template). An ask for an
        image (and no template) gets None: its template is found by image
        (``MachineTemplates.by_image``)."""
        row = (await self.s.execute(_best_statement(query))).tuples().first()
        if row is None:
            return None
        listing, machine, template = row
        return Offer(listing, machine, listing.free_gpus), template

    async def search_counted(self, query: ListingQuery, now: int) -> tuple[list[Offer], int]:
        """``search`` and ``count_offerable`` in one statement, one round trip: the count is
        an uncorrelated scalar subquery beside each row, computed once with its own plan (the
        page keeps its index walk). No row on the first page means none to count."""
        rows = (await self.s.execute(_counted_statement(query))).tuples().all()
        if rows:
            total = int(rows[0][2])
        else:
            total = 0 if query.offset == 0 else await self.count_offerable(query, now)
        return [Offer(listing, machine, listing.free_gpus) for listing, machine, _ in rows], total

    async def count_offerable(self, query: ListingQuery, now: int) -> int:
        """How many listings the search of ``query`` finds on all its pages (the /gpus
        total), up to ``COUNT_CAP`` + 1 (more: "over COUNT_CAP"): the same conditions, so the
        count never disagrees with the list."""
        return int((await self.s.execute(_count_statement(query))).scalar_one())

    async def set_status_for_machine(
        self, machine_id: int, from_statuses: Sequence[str], to_status: str
    ) -> int:
        """Move the machine's listings in ``from_statuses`` to ``to_status`` (one UPDATE);
        raises IllegalTransition when the listing table forbids one of those moves."""
        for status in from_statuses:
            check_listing_move(status, to_status)
        stmt = (
            update(tables.listings)
            .where(L.machine_id == machine_id, L.status.in_(list(from_statuses)))
            .values(status=to_status)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.s.execute(stmt))

    async def set_ready_for_machine(self, machine_id: int, ready: bool) -> None:
        stmt = (
            update(tables.listings)
            .where(L.machine_id == machine_id)
            .values(ready=ready)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def set_reliability_for_machine(self, machine_id: int, bps: int) -> None:
        stmt = (
            update(tables.listings)
            .where(L.machine_id == machine_id)
            .values(reliability_bps=max(100, bps))
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)


# Built statements by query. Chat searches repeat (/gpus, one model, the next page) and a
# statement object keeps its SQLAlchemy cache key, so a repeated search neither builds its
# statement nor works out its key again, most of a search's Python cost. The query's values
# are in the statement: each distinct query is its own entry, and the cache is bounded.
SEARCH_STATEMENTS = 512


def _order(sort: str, c: Any) -> list[ColumnElement[Any]]:
    """The ORDER BY of ``sort`` over the listing columns ``c`` (the table's or the page's)."""
    # "best": effective price = price / reliability (see quote_score), computed in SQL;
    # reliability is stored clamped to >= 100 bps so the division is always defined
    effective = c.price_per_hour * 10_000 / c.reliability_bps
    order: list[ColumnElement[Any]] = {
        "best": [effective, c.reliability_bps.desc()],
        "price": [c.price_per_hour, c.reliability_bps.desc()],
        "reliability": [c.reliability_bps.desc(), c.price_per_hour],
        "vram": [c.vram_gb.desc(), c.price_per_hour],
    }[sort]
    return [*order, c.id]


@functools.lru_cache(maxsize=SEARCH_STATEMENTS)
def _search_statement(query: ListingQuery) -> Select[tuple[Listing, Machine]]:
    """The page of listings, then each one's machine joined to the page only (a join on
    every row walked would cost the search its index walk): one statement, one round trip."""
    sort = query.sort
    if sort == "vram" and query.model:
        sort = "price"  # one model has one VRAM size: the order is the price order
    page = select(tables.listings)
    if needs_machine(query):
        page = page.join(tables.machines, M.id == L.machine_id)
    found = (
        page.where(*_conditions(query))
        .order_by(*_order(sort, L))
        .offset(query.offset)
        .limit(query.limit)
        .subquery("page")
    )
    listing = aliased(Listing, found)
    return (
        select(listing, Machine)
        .join(tables.machines, M.id == found.c.machine_id)
        .order_by(*_order(sort, found.c))
        .options(*_unshown())
    )


@functools.lru_cache(maxsize=SEARCH_STATEMENTS)
def _best_statement(query: ListingQuery) -> Select[tuple[Listing, Machine, MachineTemplate]]:
    """The search's page with the template a quote of it would run, joined to the page only
    (one statement: a quote's search and its template lookup were two round trips)."""
    table = tables.machine_templates.alias("template")
    ask = query.instance
    if ask.template is not None:
        name: ColumnElement[Any] = literal(ask.template)
    elif ask.image is not None:
        name = literal(None)  # found by image instead
    else:
        name = M.default_template
    on = and_(table.c.machine_id == M.id, table.c.name == name)
    template = aliased(MachineTemplate, table)
    return _search_statement(query).add_columns(template).outerjoin(table, on)


# A search shows and quotes a machine by its columns; its JSON documents (GPU inventory,
# metrics, instance offer, verification) are not read, so they are not loaded or decoded
# (four JSON decodes a row were a good part of a search's cost). Reading one of them from
# a searched machine raises instead of a silent second query.
@functools.cache
def _unshown() -> tuple[Any, ...]:
    # built on first use: the entity's attributes exist once core.db.mapping has mapped it
    return tuple(
        defer(getattr(Machine, name), raiseload=True)
        for name in ("inventory", "metrics", "offer", "verified")
    )


@functools.lru_cache(maxsize=SEARCH_STATEMENTS)
def _count_statement(query: ListingQuery) -> Select[tuple[int]]:
    matches = select(L.id)
    if needs_machine(query):
        matches = matches.join(tables.machines, M.id == L.machine_id)
    matches = matches.where(*_conditions(query, sorted_walk=False)).limit(COUNT_CAP + 1)
    return select(func.count()).select_from(matches.subquery())


@functools.lru_cache(maxsize=SEARCH_STATEMENTS)
def _counted_statement(query: ListingQuery) -> Select[tuple[Listing, Machine, int]]:
    """The search's page, each row with the count (``search_counted``)."""
    total = _count_statement(query).scalar_subquery().label("total")
    return _search_statement(query).add_columns(total)
