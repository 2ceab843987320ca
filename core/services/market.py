"""Market: search listings (/gpus), quote the best one (/rent) and list templates (/templates).

A quote is for a number of GPUs of one listing (several renters can rent one listing's GPUs at
once) and for an instance the listing's machine offers: its default template, a template by
name or a custom image from a registry it allows, with published ports and at least the disk
asked for. What cannot be had is refused here, before anything is held or signed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from core.domain.billing import deposit_for
from core.domain.listings import ListingQuery
from core.domain.model import Listing, Machine, MachineTemplate, Rental, stored_id
from core.domain.regions import shown as shown_region
from core.domain.reliability import is_new_host
from core.domain.rentals import RentalState
from core.errors import Conflict, NotFound
from core.ports import Clock, EscrowPort
from core.repo_ports import Offer
from core.services.base import MarketRules, Service, UnitOfWork, UowFactory, gpu_name
from core.services.escrow_rules import check_open
from core.services.instances import plan, query_of, view_of
from core.services.market_reasons import no_offer_reason
from core.services.requests import current_request, may_repeat
from core.services.search_cache import SearchCache
from core.services.views import (
    MachineSpecsView,
    OfferView,
    Principal,
    QuoteView,
    SearchPage,
    TemplateOfferView,
    TemplatesView,
)

PAGE_SIZE = 6  # three lines a listing: a page fits one Discord message (2,000 characters)


def offer_view(
    listing: Listing,
    machine: Machine | None = None,
    free: int = 0,
    count: int | None = None,
    now: int | None = None,
) -> OfferView:
    """A listing as shown: ``count`` GPUs of it when quoted, all of them in a search; at
    ``now`` its machine may still be too new for a reliability score."""
    n = listing.gpu_count if count is None else count
    seen = machine.first_seen_at if machine is not None else None
    observed = now - seen if now is not None and seen is not None else 0
    return OfferView(
        listing_id=stored_id(listing),
        gpu_model=listing.gpu_model,
        gpu_name=gpu_name(listing.gpu_model),
        gpu_count=n,
        vram_gb=listing.vram_gb,
        price_per_hour=listing.price_per_hour,
        total_per_hour=listing.price_per_hour * n,
        region=shown_region(listing.region),
        reliability_bps=listing.reliability_bps,
        verified=listing.verified,
        machine_name=machine.name if machine else "",
        new_host=now is not None and is_new_host(observed, listing.reliability_bps),
        free_gpus=free,
        specs=_specs(machine, (listing.pcie_gen, listing.pcie_width))
        if machine
        else MachineSpecsView(),
    )


def _specs(m: Machine, pcie: tuple[int | None, int | None]) -> MachineSpecsView:
    return MachineSpecsView(
        cpu_model=m.cpu_model,
        cpu_cores=m.cpu_cores,
        ram_mib=m.ram_mib,
        disk_free_gib=m.disk_free_gib,
        driver_version=m.driver_version,
        cuda_version=m.cuda_version,
        pcie_gen=pcie[0],
        pcie_width=pcie[1],
        net_down_mbps=m.net_down_mbps,
        net_up_mbps=m.net_up_mbps,
        share_cpu_millis=m.share_cpu_millis,
        share_ram_mib=m.share_ram_mib,
        share_disk_gib=m.share_disk_gib,
        backend=m.backend,
    )


class MarketService(Service):
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules | None = None,
        *,
        escrow: EscrowPort | None = None,
        pages: SearchCache | None = None,
    ) -> None:
        """``escrow``: quotes keep to its minimums (deposit, prepaid time); ``pages``: search
        pages reused until the market changes (off when None)."""
        super().__init__(uow, clock, rules)
        self.escrow = escrow
        self.pages = pages or SearchCache(0)

    async def search(self, who: Principal, query: ListingQuery, page: int = 1) -> SearchPage:
        """One page of offerable listings; never raises for an empty result."""
        page = max(1, page)
        q = replace(query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
        kept = self.pages.get(q)
        if kept is not None:
            return kept
        version = self.pages.version
        now = self.clock.now()
        async with self.uow(readonly=True) as uow:
            if page == 1:  # the total is shown on the first page: counted in the same read
                rows, total = await uow.listings.search_counted(q, now)
            else:
                rows, total = list(await uow.listings.search(q, now)), -1
        found = SearchPage(
            offers=tuple(
                offer_view(r.listing, r.machine, r.free_gpus, now=now) for r in rows[:PAGE_SIZE]
            ),
            page=page,
            has_more=len(rows) > PAGE_SIZE,
            total_available=total,
            sort=query.sort,
        )
        self.pages.put(q, version, found)
        return found

    async def quote(self, who: Principal, query: ListingQuery, duration_s: int) -> QuoteView:
        """Quote the best listing (price weighed by reliability) with enough free GPUs whose
        machine runs what was asked; raise NoOffer or ValidationError (the reason: unknown
        listing, too many GPUs, a template or registry nobody offers, a deposit or duration
        below the escrow's minimums...) if none fits."""
        # the offer is chosen in a read transaction: "nothing fits" never takes the write lock
        # (SQLite) or opens a write transaction, and the write holds only the quote's INSERT.
        # A listing taken in between is quoted all the same, as one taken after the quote
        # would be: confirming it answers "just taken" (core.services.rentals).
        now = self.clock.now()
        request = current_request()
        async with self.uow(readonly=True) as uow:
            if request is not None and may_repeat():  # handled again after a crash
                earlier = await uow.rentals.by_request(who.user_id, request)
                if earlier is not None:
                    again = await self._open_quote(uow, earlier, now)
                    if again is not None:
                        return again
                    request = None  # its quote closed since: quote afresh; the key is spent
            best, template = await _best(uow, query, (), now)
        # one INSERT, atomic by itself: on PostgreSQL without BEGIN and COMMIT round trips
        async with self.uow(one_statement=True) as uow:
            # the request key is a column of the quote itself: both or neither, and no row
            # elsewhere to prune
            view = await self._quote_of(
                uow, who.user_id, best, template, query, duration_s, request
            )
            await uow.commit()
        return view

    async def _open_quote(self, uow: UnitOfWork, rental: Rental, now: int) -> QuoteView | None:
        """The view of the quote an earlier handling of a request made, while it is open."""
        if rental.state != RentalState.QUOTED or rental.quote_expires_at < now:
            return None
        listing = await uow.listings.get(rental.listing_id)
        if listing is None:
            return None
        machine = await uow.machines.get(rental.machine_id)
        return QuoteView(
            rental_id=stored_id(rental),
            offer=offer_view(listing, machine, listing.free_gpus, rental.gpu_count, now),
            duration_s=rental.duration_s,
            deposit=rental.deposit,
            fee_bps=rental.fee_bps,
            expires_at=rental.quote_expires_at,
            instance=view_of(rental),
        )

    async def cheaper(self, who: Principal, rental_id: int) -> QuoteView:
        """Replace a quote by the best offer of the same GPUs and instance that costs less
        per hour.

        Raises NotFound/Forbidden for someone else's quote, Conflict if it is no longer a
        quote, NoOffer when nothing cheaper is free.
        """
        async with self.uow() as uow:
            old = await uow.rentals.get(rental_id)
            if old is None or old.renter_id != who.user_id:
                raise NotFound.keyed("market.no_quote", rental_id=rental_id)
            if old.state != RentalState.QUOTED:
                raise Conflict.keyed(
                    "market.quote_closed",
                    rental_id=rental_id,
                )
            per_gpu = old.price_per_hour // old.gpu_count
            query = query_of(old, max_price_per_hour=per_gpu - 1)
            view = await self.quote_in(uow, who.user_id, query, old.duration_s)
            old.transition(RentalState.CANCELLED)
            old.cancel_reason = "replaced by a cheaper quote"
            await uow.commit()
        return view

    async def quote_in(
        self,
        uow: UnitOfWork,
        renter_id: int,
        query: ListingQuery,
        duration_s: int,
        *,
        exclude: Iterable[int] = (),
        request: str | None = None,
    ) -> QuoteView:
        """Create a quoted rental inside the caller's unit of work (used by retries);
        ``request`` is the chat request it answers (see :meth:`quote`)."""
        best, template = await _best(uow, query, exclude, self.clock.now())
        return await self._quote_of(uow, renter_id, best, template, query, duration_s, request)

    async def _quote_of(
        self,
        uow: UnitOfWork,
        renter_id: int,
        best: Offer,
        template: MachineTemplate | None,
        query: ListingQuery,
        duration_s: int,
        request: str | None,
    ) -> QuoteView:
        """The quoted rental of ``best``, added in ``uow``."""
        now = self.clock.now()
        listing, machine = best.listing, best.machine
        count = max(1, query.gpu_count or 1)
        price = listing.price_per_hour * count
        # what the escrow would refuse is never quoted (nor signed later)
        await check_open(self.escrow, deposit_for(duration_s, price), price)
        rental = Rental(
            renter_id=renter_id,
            listing_id=stored_id(listing),
            provider_id=listing.provider_id,
            machine_id=listing.machine_id,
            gpu_model=listing.gpu_model,
            gpu_count=count,
            price_per_hour=price,
            duration_s=duration_s,
            deposit=deposit_for(duration_s, price),
            fee_bps=self.rules.fee_bps,
            created_at=now,
            quote_expires_at=now + self.rules.quote_ttl_s,
            reliability_bps=listing.reliability_bps,
            instance=plan(machine, template, query.instance, count),
            request_key=request,
        )
        await uow.rentals.insert(rental)
        return QuoteView(
            rental_id=stored_id(rental),
            offer=offer_view(listing, machine, best.free_gpus, count, now),
            duration_s=duration_s,
            deposit=rental.deposit,
            fee_bps=rental.fee_bps,
            expires_at=rental.quote_expires_at,
            instance=view_of(rental),
        )

    async def templates(
        self, who: Principal, model: str | None = None, listing_id: int | None = None
    ) -> TemplatesView:
        """The templates offered listings run, by name, with the listings that offer each
        (of one GPU model or one listing when given); never raises."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.templates.offered(model, listing_id)
        by_name: dict[str, tuple[str, bool, list[int]]] = {}
        for name, title, jupyter, lid in rows:
            entry = by_name.setdefault(name, (title, jupyter, []))
            entry[2].append(lid)
        return TemplatesView(
            templates=tuple(
                TemplateOfferView(name, title, jupyter, tuple(ids))
                for name, (title, jupyter, ids) in sorted(by_name.items())
            ),
            model=model,
            listing_id=listing_id,
        )


async def _best(
    uow: UnitOfWork, query: ListingQuery, exclude: Iterable[int], now: int
) -> tuple[Offer, MachineTemplate | None]:
    """The best offer for ``query`` (price weighed by reliability) and the template it would
    run; raises NoOffer (with the reason) when none fits."""
    q = replace(query, sort="best", offset=0, limit=1, exclude_ids=frozenset(exclude))
    found = await uow.listings.best_offer(q, now)
    if found is None:
        raise await no_offer_reason(uow, q, now)
    best, named = found
    return best, await _template(uow, best.machine, query, named)


async def _template(
    uow: UnitOfWork, machine: Machine, query: ListingQuery, named: MachineTemplate | None
) -> MachineTemplate | None:
    """The template the rental runs: the one asked for or the machine's default (``named``,
    found with the offer), or the one whose image was asked for; None for a custom image
    (or a machine without instances)."""
    ask = query.instance
    if machine.backend is None:
        return None
    if ask.image is not None and ask.template is None:
        return await uow.templates.by_image(stored_id(machine), ask.image.reference)
    return named  # None for a machine without a default: nothing runs until one is named
