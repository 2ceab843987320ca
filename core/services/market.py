"""Market: search listings (/gpus) and quote the best one (/rent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from core.domain.billing import deposit_for
from core.domain.listings import ListingQuery
from core.domain.model import Listing, Rental
from core.domain.rentals import RentalState
from core.errors import Conflict, NoOffer, NotFound
from core.services.base import Service, UnitOfWork, gpu_name
from core.services.views import OfferView, Principal, QuoteView, SearchPage

PAGE_SIZE = 8


def offer_view(listing: Listing) -> OfferView:
    return OfferView(
        listing_id=listing.id,
        gpu_model=listing.gpu_model,
        gpu_name=gpu_name(listing.gpu_model),
        gpu_count=listing.gpu_count,
        vram_gb=listing.vram_gb,
        price_per_hour=listing.price_per_hour,
        total_per_hour=listing.total_price_per_hour,
        region=listing.region,
        reliability_bps=listing.reliability_bps,
        verified=listing.verified,
    )


class MarketService(Service):
    async def search(self, who: Principal, query: ListingQuery, page: int = 1) -> SearchPage:
        """One page of offerable listings; never raises for an empty result."""
        page = max(1, page)
        q = _replace(query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
        now = self.clock.now()
        async with self.uow(readonly=True) as uow:
            rows = list(await uow.listings.search(q, now))
            total = await uow.listings.count_offerable(query, now) if page == 1 else -1
        return SearchPage(
            offers=tuple(offer_view(x) for x in rows[:PAGE_SIZE]),
            page=page,
            has_more=len(rows) > PAGE_SIZE,
            total_available=total,
            sort=query.sort,
        )

    async def quote(self, who: Principal, query: ListingQuery, duration_s: int) -> QuoteView:
        """Quote the best listing (price weighed by reliability); raise NoOffer if none fits."""
        async with self.uow() as uow:
            view = await self.quote_in(uow, who.user_id, query, duration_s)
            await uow.commit()
        return view

    async def cheaper(self, who: Principal, rental_id: int) -> QuoteView:
        """Replace a quote by the best offer of the same GPU that costs less per hour.

        Raises NotFound/Forbidden for someone else's quote, Conflict if it is no longer a
        quote, NoOffer when nothing cheaper is free.
        """
        async with self.uow() as uow:
            old = await uow.rentals.get(rental_id)
            if old is None or old.renter_id != who.user_id:
                raise NotFound.keyed(
                    "market.no_quote", "There is no quote #{rental_id}.", rental_id=rental_id
                )
            if old.state != RentalState.QUOTED:
                raise Conflict.keyed(
                    "market.quote_closed",
                    "Quote #{rental_id} is no longer open.",
                    rental_id=rental_id,
                )
            per_gpu = old.price_per_hour // old.gpu_count
            query = ListingQuery(
                model=old.gpu_model, gpu_count=old.gpu_count, max_price_per_hour=per_gpu - 1
            )
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
    ) -> QuoteView:
        """Create a quoted rental inside the caller's unit of work (used by retries)."""
        now = self.clock.now()
        q = _replace(query, sort="best", offset=0, limit=1, exclude_ids=frozenset(exclude))
        rows = await uow.listings.search(q, now)
        if not rows:
            raise _no_offer(query)
        best = rows[0]
        price = best.total_price_per_hour
        rental = Rental(
            renter_id=renter_id,
            listing_id=best.id,
            provider_id=best.provider_id,
            machine_id=best.machine_id,
            gpu_model=best.gpu_model,
            gpu_count=best.gpu_count,
            price_per_hour=price,
            duration_s=duration_s,
            deposit=deposit_for(duration_s, price),
            fee_bps=self.rules.fee_bps,
            created_at=now,
            quote_expires_at=now + self.rules.quote_ttl_s,
            reliability_bps=best.reliability_bps,
        )
        uow.rentals.add(rental)
        await uow.flush()
        return QuoteView(
            rental_id=rental.id,
            offer=offer_view(best),
            duration_s=duration_s,
            deposit=rental.deposit,
            fee_bps=rental.fee_bps,
            expires_at=rental.quote_expires_at,
        )


def _replace(q: ListingQuery, **changes: object) -> ListingQuery:
    return replace(q, **changes)


def _no_offer(q: ListingQuery) -> NoOffer:
    what = gpu_name(q.model) if q.model else "GPU"
    if q.gpu_count and q.gpu_count > 1:
        what = f"{q.gpu_count}x {what}"
    # the hint names what to relax: a price cap, a region, both or neither
    variant = ("price" if q.max_price_per_hour is not None else "") + (
        "_region" if q.region else ""
    )
    extra = []
    if q.max_price_per_hour is not None:
        extra.append("a higher max price")
    if q.region:
        extra.append("another region")
    hint = f" Try {' or '.join(extra)}, or" if extra else " Try"
    return NoOffer(
        f"No {what} is free right now.{hint} /gpus to see what is available.",
        key=f"market.no_offer{('.' + variant.strip('_')) if variant else ''}",
        params={"what": what},
    )
