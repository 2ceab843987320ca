"""Renter use cases: confirm a quote, status, extend, stop, dispute, rate."""

from __future__ import annotations

import secrets

from core.domain.billing import deposit_for
from core.domain.model import Rental, stored_id
from core.domain.rentals import LIVE
from core.domain.rentals import RentalState as S
from core.domain.signatures import (
    DisputeRelay,
    ExtendRelay,
    OpenRelay,
    PendingSignature,
    RelayParams,
    SignatureKind,
    StopRelay,
    relay_fields,
)
from core.errors import (
    Conflict,
    CoreError,
    JustTaken,
    NoOffer,
    ValidationError,
    WalletError,
)
from core.notifications import Notification
from core.notifications.wallet import ConfirmFailed, ConfirmTaken, PaymentRequested
from core.ports import Clock, EscrowPort, SignatureRequest, WalletPort
from core.services.arbiter import evidence_hash, evidence_of
from core.services.base import (
    MarketRules,
    Service,
    UnitOfWork,
    UowFactory,
    enqueue,
    gpu_name,
    provider_of,
)
from core.services.escrow_rules import check_extend, check_open
from core.services.instances import query_of
from core.services.market import MarketService
from core.services.rental_rules import (
    CANCELLED_BY_RENTER,
    DISPUTABLE,
    QUOTE_EXPIRED,
    cancel_unpaid,
    closed_quote,
    escrow_id_of,
    in_state,
    lapsed,
    listing_withdrawn,
    own_rental,
    pick_rental,
    renter_wallet,
    terms_of,
)
from core.services.rental_views import status_view
from core.services.repeats import repeat_of
from core.services.views import (
    Notice,
    PaymentPendingView,
    Principal,
    QuoteView,
    RentalRef,
    RentalView,
    WalletLinkView,
)
from core.services.wallets import WalletService, new_pending

MAX_DISPUTE_REASON = 500


class RentalService(Service):
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules,
        *,
        market: MarketService,
        escrow: EscrowPort,
        wallet: WalletPort,
        wallets: WalletService,
    ) -> None:
        super().__init__(uow, clock, rules)
        self.market = market
        self.escrow = escrow
        self.wallet = wallet
        self.wallets = wallets

    # -- confirm -------------------------------------------------------------------------
    async def confirm(self, who: Principal, rental_id: int) -> PaymentPendingView | WalletLinkView:
        """Hold the quoted listing and ask the renter's wallet for the one deposit signature.

        Without a linked wallet nothing is held yet: a wallet connect starts (the returned
        WalletLinkView) and the confirm runs by itself once the wallet is linked
        (:meth:`resume_confirm`). Raises NotFound/Forbidden for someone else's quote,
        Conflict when the quote expired or was confirmed already, JustTaken (with the next
        best quote) when another renter got the GPU first, WalletError when the wallet
        cannot be reached.
        """
        renter = await self.wallets.address_of(who.user_id)  # the proven wallet, or None
        if renter is None:
            async with self.uow(readonly=True) as uow:
                rental = await own_rental(uow, who, rental_id)
                if rental.state != S.QUOTED:
                    raise closed_quote(rental)
            return await self.wallets.connect(who, then_confirm=rental_id)
        return await self._confirm(who, rental_id, renter)

    async def resume_confirm(self, user_id: int, rental_id: int) -> None:
        """Run a confirm that waited for the wallet to be linked; the outcome (approve the
        payment in the wallet, just taken with the next best quote, or why not) reaches the
        renter through the outbox. Never raises a CoreError."""
        async with self.uow(readonly=True) as uow:
            user = await uow.users.get(user_id)
        if user is None or user.wallet_address is None:
            return
        who = Principal(stored_id(user), user.platform, True, user.lang)
        told: Notification
        try:
            p = await self._confirm(who, rental_id, user.wallet_address)
            told = PaymentRequested(
                rental_id, p.deposit, p.summary, p.url, p.expires_at, wc_uri=p.wc_uri
            )
        except JustTaken as exc:
            nxt = exc.next_best
            withdrawn = exc.key == "rentals.listing_withdrawn"
            told = ConfirmTaken(rental_id, nxt if isinstance(nxt, QuoteView) else None, withdrawn)
        except CoreError as exc:
            told = ConfirmFailed(rental_id, **exc.as_reason(300))
        async with self.uow() as uow:
            now, key = self.clock.now(), f"resume:{rental_id}:{told.KIND}"
            await enqueue(uow, told, user_id=user_id, dedupe_key=key, now=now)
            await uow.commit()

    async def _confirm(self, who: Principal, rental_id: int, renter: str) -> PaymentPendingView:
        """The one confirm: hold exactly the quoted number of the listing's GPUs (one
        conditional write), prepare the authorization, ask the wallet."""
        now = self.clock.now()
        async with self.uow() as uow:
            rental = await own_rental(uow, who, rental_id)
            if rental.state != S.QUOTED:
                raise closed_quote(rental)
            if rental.quote_expires_at < now:
                rental.transition(S.CANCELLED)
                rental.cancel_reason = QUOTE_EXPIRED
                await uow.commit()
                raise closed_quote(rental)
            try:  # the escrow's owner may have raised its minimums since the quote
                await check_open(self.escrow, rental.deposit, rental.price_per_hour)
            except ValidationError:
                rental.transition(S.CANCELLED)
                rental.cancel_reason = "below the escrow's minimums"
                await uow.commit()
                raise
            hold_until = now + self.rules.payment_hold_s
            held = await uow.gpus.hold(rental.listing_id, rental_id, rental.gpu_count, hold_until)
            if held is None:  # another renter was first, or the host withdrew the listing
                withdrawn = await listing_withdrawn(uow, rental.listing_id)
                rental.transition(S.CANCELLED)
                rental.cancel_reason = "listing withdrawn" if withdrawn else "listing taken"
                next_best = await self._next_best(uow, rental)
                await uow.commit()
                if withdrawn:
                    raise JustTaken.keyed("rentals.listing_withdrawn").offering(next_best)
                raise JustTaken.keyed("rentals.just_taken").offering(next_best)
            rental.gpu_uuids = held
            provider = await provider_of(uow, rental)
            rental.renter_address = renter
            rental.provider_address = provider.payout_address
            rental.salt = "0x" + secrets.token_hex(32)
            rental.hold_until = hold_until
            request = await self.escrow.prepare_open(terms_of(rental, hold_until), renter)
            rental.escrow_id = request.escrow_id
            rental.transition(S.AWAITING_PAYMENT)
            pending = self._pending(rental, request, hold_until, OpenRelay())
            uow.signatures.add(pending)
            await uow.commit()
        try:
            link = await self.wallet.request_signature(
                who.user_id, pending.token, request, hold_until
            )
        except WalletError:
            await self._abandon(rental_id, "wallet unreachable")
            raise
        return PaymentPendingView(
            rental_id=rental_id,
            deposit=rental.deposit,
            url=link.url,
            wc_uri=link.wc_uri,
            expires_at=hold_until,
            summary=request.summary,
        )

    async def cancel_quote(self, who: Principal, rental_id: int) -> Notice:
        """Drop a quote (or an unpaid confirmation, releasing its hold)."""
        async with self.uow(one_statement=True) as uow:
            # most cancels drop a plain quote: one conditional UPDATE, no read first
            if await uow.rentals.cancel_quoted(rental_id, who.user_id, CANCELLED_BY_RENTER):
                await uow.commit()
                return Notice("quote.cancelled", {"rental_id": rental_id})
        async with self.uow() as uow:  # an unpaid confirmation (its hold), or the refusal
            rental = await own_rental(uow, who, rental_id, for_update=True)
            if rental.state not in (S.QUOTED, S.AWAITING_PAYMENT):
                if lapsed(rental):
                    raise closed_quote(rental)
                raise in_state(rental)
            await cancel_unpaid(uow, rental, CANCELLED_BY_RENTER)
            await uow.commit()
        return Notice("quote.cancelled", {"rental_id": rental_id})

    # -- views ---------------------------------------------------------------------------
    async def status(self, who: Principal, ref: str | None) -> RentalView:
        """The renter's rental (the live one when ``ref`` is None; a named one also when it
        has settled or its dispute was decided); NotFound if none."""
        states = LIVE + (S.ENDED, S.DISPUTED)
        if ref is not None:
            states += (S.SETTLED, S.RESOLVED)
        async with self.uow(readonly=True) as uow:
            rental = await pick_rental(uow, who, ref, states)
            return await status_view(uow, rental, self.clock.now())

    async def recent(self, who: Principal, limit: int = 10) -> list[RentalRef]:
        """The renter's latest rentals (newest first, quotes and cancellations left out) for
        pick lists; never raises. ``limit`` is clamped to 1..25 (Discord shows 25 choices)."""
        limit = max(1, min(limit, 25))
        states = LIVE + (S.ENDED, S.DISPUTED, S.SETTLED, S.RESOLVED)
        async with self.uow(readonly=True) as uow:
            rows = await uow.rentals.for_renter(who.user_id, list(states), limit)
        return [
            RentalRef(stored_id(r), gpu_name(r.gpu_model), r.gpu_count, r.state, r.created_at)
            for r in rows
        ]

    # -- extend / stop ---------------------------------------------------------------------
    async def extend(self, who: Principal, ref: str | None, duration_s: int) -> PaymentPendingView:
        """Ask the wallet to sign a top-up worth ``duration_s`` more seconds."""
        async with self.uow() as uow:
            rental = await pick_rental(uow, who, ref, (S.ACTIVE,))
            renter = renter_wallet(rental)
            amount = deposit_for(duration_s, rental.price_per_hour)
            now = self.clock.now()
            check_extend(rental, amount, now)  # what the escrow would refuse
            repeat = await repeat_of(uow, who.user_id, stored_id(rental), SignatureKind.EXTEND, now)
            relay = repeat.relay(ExtendRelay) or ExtendRelay(
                amount, "0x" + secrets.token_hex(32), now + self.rules.payment_hold_s
            )
            expires = relay.valid_before
            request = await self.escrow.prepare_extend(
                escrow_id_of(rental), renter, relay.amount, relay.salt, expires
            )
            pending = repeat.waiting or self._pending(rental, request, expires, relay, repeat.key)
            if repeat.waiting is None:
                uow.signatures.add(pending)
                await uow.commit()
        link = await self.wallet.request_signature(who.user_id, pending.token, request, expires)
        return PaymentPendingView(
            stored_id(rental), relay.amount, link.url, link.wc_uri, expires, request.summary
        )

    async def stop(self, who: Principal, ref: str | None) -> PaymentPendingView:
        """Ask the wallet to sign the stop; the escrow settles as soon as it is relayed."""
        now = self.clock.now()
        async with self.uow() as uow:
            rental = await pick_rental(uow, who, ref, (S.ACTIVE,))
            renter = renter_wallet(rental)
            # a stop asked for already (a second /stop, or the same update handled again
            # after a crash) is asked for again, not doubled: the same request and deadline
            pending = await uow.signatures.waiting_for(stored_id(rental), "stop", now)
            # short on purpose: a relayer may hold a signed stop until its deadline
            expires = now + self.rules.payment_hold_s if pending is None else pending.expires_at
            request = await self.escrow.prepare_stop(escrow_id_of(rental), renter, expires)
            if pending is None:
                pending = self._pending(rental, request, expires, StopRelay(expires))
                uow.signatures.add(pending)
                await uow.commit()
        link = await self.wallet.request_signature(who.user_id, pending.token, request, expires)
        return PaymentPendingView(
            stored_id(rental), 0, link.url, link.wc_uri, expires, request.summary
        )

    # -- dispute / rate --------------------------------------------------------------------
    async def check_disputable(self, who: Principal, ref: str | None) -> None:
        """Raise what :meth:`dispute` would for ``ref`` before any reason is given, so the
        chat does not ask for a reason it then refuses."""
        async with self.uow(readonly=True) as uow:
            await pick_rental(uow, who, ref, DISPUTABLE)

    async def dispute(
        self, who: Principal, ref: str | None, reason: str | None
    ) -> PaymentPendingView:
        """Ask the wallet to sign a dispute on an active or just-ended rental; the agent's
        evidence decides it. Raises ValidationError without a reason, WalletError when the
        wallet cannot be reached."""
        if not reason or not reason.strip():
            raise ValidationError.keyed("rentals.dispute_reason")
        reason = reason.strip()[:MAX_DISPUTE_REASON]
        async with self.uow() as uow:
            rental = await pick_rental(uow, who, ref, DISPUTABLE)
            renter, now = renter_wallet(rental), self.clock.now()
            repeat = await repeat_of(
                uow, who.user_id, stored_id(rental), SignatureKind.DISPUTE, now
            )
            relay = repeat.relay(DisputeRelay) or DisputeRelay(
                evidence_hash(await evidence_of(uow, stored_id(rental)), reason),
                now + self.rules.payment_hold_s,
            )
            expires = relay.deadline
            request = await self.escrow.prepare_dispute(
                escrow_id_of(rental), renter, relay.evidence_hash, expires
            )
            pending = repeat.waiting or self._pending(rental, request, expires, relay, repeat.key)
            if repeat.waiting is None:
                uow.signatures.add(pending)
                rental.dispute_reason = reason
                await uow.commit()
        link = await self.wallet.request_signature(who.user_id, pending.token, request, expires)
        return PaymentPendingView(
            stored_id(rental), 0, link.url, link.wc_uri, expires, request.summary
        )

    async def rate(
        self, who: Principal, ref: str | None, stars: int, comment: str | None
    ) -> Notice:
        """Rate a finished rental once (1..5 stars); it feeds the host's reliability."""
        if not 1 <= stars <= 5:
            raise ValidationError.keyed("rentals.rate_range")
        async with self.uow() as uow:
            rental = await pick_rental(uow, who, ref, (S.SETTLED, S.RESOLVED, S.ENDED))
            if rental.rating is not None:
                raise Conflict.keyed("rentals.rated", rental_id=rental.id)
            rental.rating = stars
            rental.rating_comment = (comment or "")[:500] or None
            await uow.commit()
        return Notice("rate.thanks", {"rental_id": rental.id, "stars": stars})

    # -- helpers -----------------------------------------------------------------------------
    def _pending(
        self,
        rental: Rental,
        request: SignatureRequest,
        expires_at: int,
        relay: RelayParams,
        request_key: str | None = None,
    ) -> PendingSignature:
        """A pending signature by the rental's renter; ``relay`` is what the escrow needs
        back to relay it."""
        return new_pending(
            rental.renter_id,
            request,
            now=self.clock.now(),
            expires_at=expires_at,
            signer=rental.renter_address,
            rental_id=stored_id(rental),
            params=relay_fields(relay),
            request_key=request_key,
        )

    async def _next_best(self, uow: UnitOfWork, lost: Rental) -> QuoteView | None:
        query = query_of(lost)
        try:
            return await self.market.quote_in(
                uow, lost.renter_id, query, lost.duration_s, exclude=(lost.listing_id,)
            )
        except (NoOffer, ValidationError):  # nothing else fits (or not the escrow's minimums)
            return None

    async def _abandon(self, rental_id: int, reason: str) -> None:
        async with self.uow() as uow:
            rental = await uow.rentals.get(rental_id)
            if rental and rental.state == S.AWAITING_PAYMENT:
                await cancel_unpaid(uow, rental, reason)
                await uow.commit()
