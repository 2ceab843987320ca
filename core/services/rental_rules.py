"""Rules about a rental that several services share: what a command that does not fit its
state answers, why a quote can no longer be confirmed, cancelling what was never paid, the
terms the renter signs (rebuilt from the rental row), which rental of a renter a command
names, and the wallet and escrow a confirmed
rental's requests name. No service imports here but the base."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain.listings import ListingStatus
from core.domain.model import Rental, stored_id
from core.domain.rentals import LIVE, StateName
from core.domain.rentals import RentalState as S
from core.errors import Conflict, Forbidden, NotFound, ValidationError
from core.ports import RentalTerms
from core.services.base import UnitOfWork, present
from core.services.views import Principal


def state_text(state: str) -> StateName:
    return StateName(state)


DISPUTABLE = (S.ACTIVE, S.ENDED)  # the escrow takes a dispute until the rental settles
QUOTE_EXPIRED = "quote expired"
CANCELLED_BY_RENTER = "cancelled by renter"
# The states whose refusal of a command that does not fit them ("/extend 3" on a settled
# rental) says what the rental is and what the renter can do next: err.rentals.state.<state>
# in the catalogues; any other state reads err.rentals.state.
IN_STATE: frozenset[str] = frozenset(
    {
        S.QUOTED,
        S.AWAITING_PAYMENT,
        S.FUNDED,
        S.PROVISIONING,
        S.ACTIVE,
        S.ENDED,
        S.SETTLED,
        S.CANCELLED,
        S.DISPUTED,
        S.RESOLVED,
    }
)


def in_state(rental: Rental) -> Conflict:
    """The refusal of a command that does not fit ``rental``'s state, with the next step."""
    key = f"rentals.state.{rental.state}" if rental.state in IN_STATE else "rentals.state"
    return Conflict.keyed(key, rental_id=rental.id, state=state_text(rental.state))


NOT_PAID_IN_TIME = "not paid in time"  # the keeper's reason for a quote or hold that lapsed


def lapsed(rental: Rental) -> bool:
    """A quote or hold the keeper cancelled because it lapsed (not the renter's cancel)."""
    return rental.state == S.CANCELLED and rental.cancel_reason in (
        QUOTE_EXPIRED,
        NOT_PAID_IN_TIME,
    )


def closed_quote(rental: Rental) -> Conflict:
    """Why a quote can no longer be confirmed: it expired (the keeper cancels lapsed quotes,
    which is no cancellation of the renter's), or what became of it."""
    if lapsed(rental):
        return Conflict.keyed(
            "rentals.quote_expired",
            rental_id=rental.id,
        )
    return Conflict.keyed(
        "rentals.quote_used",
        rental_id=rental.id,
        state=state_text(rental.state),
    )


async def cancel_unpaid(uow: UnitOfWork, rental: Rental, reason: str) -> None:
    """Cancel a quote or unpaid confirmation and release the GPUs it held."""
    held = rental.state == S.AWAITING_PAYMENT
    rental.transition(S.CANCELLED)
    rental.cancel_reason = reason
    if held:
        await uow.gpus.release(stored_id(rental), rental.listing_id)


async def listing_withdrawn(uow: UnitOfWork, listing_id: int) -> bool:
    """Whether the listing is no longer offered (paused, offline, removed...): a hold that
    failed on it failed for that, not because another renter was first."""
    listing = await uow.listings.get(listing_id)
    return listing is None or listing.status != ListingStatus.AVAILABLE


def terms_of(rental: Rental, quote_expiry: int | None = None) -> RentalTerms:
    """The terms the renter signs, rebuilt from the rental row (of a confirmed quote: its
    provider address, hold and salt are set at confirm)."""
    expiry = quote_expiry if quote_expiry is not None else rental.hold_until
    if rental.provider_address is None or rental.salt is None or expiry is None:
        raise ValueError(f"rental {rental.id} was never confirmed: it has no terms to sign")
    return RentalTerms(
        provider_address=rental.provider_address,
        price_per_hour=rental.price_per_hour,
        deposit=rental.deposit,
        listing_id=rental.listing_id,
        quote_expiry=expiry,
        salt=rental.salt,
    )


def renter_wallet(rental: Rental) -> str:
    """The wallet that signs a rental's requests after its confirm (the escrow takes only
    the renter's signature): the confirm recorded it, so None here is a bug."""
    return present(rental.renter_address, f"renter address of rental {rental.id}")


def escrow_id_of(rental: Rental) -> str:
    """The escrow an extend, stop or dispute acts on: one opened before they can be asked."""
    return present(rental.escrow_id, f"escrow id of rental {rental.id}")


async def own_rental(
    uow: UnitOfWork, who: Principal, rental_id: int, *, for_update: bool = False
) -> Rental:
    """The rental ``rental_id`` of this renter; NotFound or Forbidden otherwise."""
    rental = await uow.rentals.get(rental_id, for_update=for_update)
    if rental is None:
        raise NotFound.keyed("rentals.no_rental", rental_id=rental_id)
    if rental.renter_id != who.user_id:
        raise Forbidden.keyed("rentals.not_yours", rental_id=rental_id)
    return rental


async def pick_rental(
    uow: UnitOfWork, who: Principal, ref: str | None, states: Sequence[str]
) -> Rental:
    """The rental a command names (``ref``, "#12" without the #), or else the renter's one
    live rental (the latest in ``states`` when none is live); refuses several live ones."""
    if ref is not None:
        if not ref.isdigit() or len(ref) > 12:
            raise ValidationError.keyed("rentals.bad_ref", ref=ref[:20])
        rental = await own_rental(uow, who, int(ref))
        if rental.state not in states:
            raise in_state(rental)
        return rental
    rows = await uow.rentals.for_renter(who.user_id, list(states))
    if not rows:
        raise NotFound.keyed("rentals.none")
    live = [r for r in rows if r.state in LIVE]
    if len(live) > 1:
        ids = ", ".join(f"#{r.id}" for r in live[:5])
        raise ValidationError.keyed("rentals.several", ids=ids, first=live[0].id)
    return live[0] if live else rows[0]
