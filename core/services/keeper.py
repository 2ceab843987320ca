"""The keeper: every waiting state of a rental ends by itself, nothing waits on a person.

One pass expires unpaid holds and unanswered wallet requests, warns before the prepaid time
ends, stops rentals whose prepaid time ran out (the escrow's ``stop``, anyone may after
paidUntil), decides disputes from the evidence (``core.services.arbiter``), finalizes ended
rentals after the challenge window and disputed ones after the arbiter timeout (the
time-based bill), and refunds rentals the provider never provisioned. Safe to run repeatedly, from one leader at a
time; an escrow call that fails is logged and retried on the next pass.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from core.domain.rentals import RentalState as S
from core.services.arbiter import arbitrate, due_for_decision
from core.services.base import enqueue
from core.services.payouts import retry_held_payouts
from core.services.recovery import repair
from core.services.rentals import NOT_PAID_IN_TIME, cancel_unpaid
from core.services.signing import expire_requests

if TYPE_CHECKING:
    from core.domain.model import Rental
    from core.services.lifecycle import RentalLifecycle


async def tick(lc: RentalLifecycle) -> dict[str, int]:
    """One keeper pass; returns how many rentals each step touched."""
    now = lc.clock.now()
    counts = dict.fromkeys(
        (
            "expired_holds",
            "expired_requests",
            "warned",
            "stopped",
            "decided",
            "finalized",
            "refunded",
        ),
        0,
    )
    # first what the escrow did but the records missed (the database failed): a payment the
    # records do not show yet is never cancelled below as unpaid
    counts["recorded"] = await lc.mirrors.catch_up()
    due_stop, due_final, due_refund, due_decision = [], [], [], []
    window, arbiter = lc.escrow.challenge_window, lc.escrow.arbiter_timeout
    async with lc.uow() as uow:
        for rental in await uow.rentals.in_states((S.QUOTED, S.AWAITING_PAYMENT)):
            deadline = (
                rental.hold_until if rental.state == S.AWAITING_PAYMENT else rental.quote_expires_at
            )
            if deadline is not None and deadline < now:
                await cancel_unpaid(uow, rental, NOT_PAID_IN_TIME)
                counts["expired_holds"] += 1
        # wallet requests nobody answered: each user hears why (the hold is released above)
        counts["expired_requests"] = await expire_requests(uow, now)
        for rental in await uow.rentals.in_states((S.ACTIVE, S.FUNDED, S.PROVISIONING)):
            if rental.state == S.ACTIVE and rental.paid_until is not None:
                if rental.paid_until <= now:
                    due_stop.append(rental)
                elif rental.paid_until - now <= lc.rules.warn_before_end_s:
                    await enqueue(
                        uow,
                        user_id=rental.renter_id,
                        kind="ending_soon",
                        payload={"rental_id": rental.id, "paid_until": rental.paid_until},
                        dedupe_key=f"warn:{rental.id}:{rental.paid_until}",
                        now=now,
                    )
                    counts["warned"] += 1
            elif (
                rental.state != S.ACTIVE
                and (rental.funded_at or now) + (lc.rules.accept_timeout_s) < now
            ):
                due_refund.append(rental)
        for rental in await uow.rentals.in_states((S.ENDED, S.DISPUTED)):
            if rental.state == S.ENDED:
                due = (rental.ended_at or now) + window
            else:  # mirrored no earlier than the chain's disputedAt: never too early
                due = (rental.disputed_at or now) + arbiter
                if due_for_decision(rental, now, lc.rules.arbiter_delay_s, arbiter):
                    due_decision.append(rental)
            if due <= now:
                due_final.append(rental)
        await uow.commit()
    # each rental alone: one that raises is logged with a reference and benched for a while
    # (core.services.isolation); the others are served on this pass
    for step, rentals, call in (
        ("stopped", due_stop, lambda r: lc.keep(r, "stop_expired")),
        ("decided", due_decision, lambda r: arbitrate(lc, r)),
        ("finalized", due_final, lambda r: lc.keep(r, "finalize")),
        ("refunded", due_refund, lambda r: _refund(lc, r)),
    ):
        for rental in rentals:
            what = f"keeper step {step!r} of rental {rental.id}"
            once = functools.partial(call, rental)
            counts[step] += await lc.quarantine.run(what, (step, rental.id), once, 0)
    # follow-up calls a process that died after its commit never made (grants, starts, revokes)
    counts.update(await repair(lc))
    counts["claimed"] = await retry_held_payouts(lc)  # payouts the token refused at settlement
    return counts


async def _refund(lc: RentalLifecycle, rental: Rental) -> int:
    await lc.cancel_funded(rental)
    return 1
