"""The keeper: every waiting state of a rental ends by itself, nothing waits on a person.

One pass expires unpaid holds and unanswered wallet requests, warns before the prepaid time
ends, stops rentals whose prepaid time ran out (the escrow's ``stop``, anyone may after
paidUntil), decides disputes from the evidence (``core.services.arbiter``), finalizes ended
rentals after the challenge window and disputed ones after the arbiter timeout (the
time-based bill), and refunds rentals the provider never provisioned. Safe to run repeatedly,
from one leader at a time; an escrow call that fails is logged and retried on the next pass.
"""

from __future__ import annotations

import functools
from dataclasses import KW_ONLY, dataclass

from core.domain.model import Rental, stored_id
from core.domain.rentals import RentalState as S
from core.notifications.rentals import EndingSoon
from core.ports import Clock, EscrowPort
from core.services.arbiter import Arbiter, due_for_decision
from core.services.base import MarketRules, UowFactory, enqueue
from core.services.followups import RefundUnstarted
from core.services.isolation import Quarantine
from core.services.messagebus import MessageBus
from core.services.payouts import HeldPayouts
from core.services.recovery import Recovery
from core.services.rental_rules import NOT_PAID_IN_TIME, cancel_unpaid
from core.services.settlement import Settlement, SettlementAction
from core.services.signing import expire_requests

STEPS = (
    "expired_holds",
    "expired_requests",
    "warned",
    "stopped",
    "decided",
    "finalized",
    "refunded",
)


@dataclass(frozen=True, slots=True, eq=False)
class Keeper:
    """One pass at a time over every rental that waits on the clock."""

    uow: UowFactory
    clock: Clock
    rules: MarketRules
    _: KW_ONLY
    escrow: EscrowPort  # its challenge window and arbiter timeout
    bus: MessageBus
    settlement: Settlement
    arbiter: Arbiter
    recovery: Recovery
    payouts: HeldPayouts
    quarantine: Quarantine  # benched rentals: one bad never stops the pass

    async def tick(self) -> dict[str, int]:
        """One keeper pass; returns how many rentals each step touched."""
        now = self.clock.now()
        counts = dict.fromkeys(STEPS, 0)
        # first what the escrow did but the records missed (the database failed): a payment the
        # records do not show yet is never cancelled below as unpaid
        counts["recorded"] = await self.bus.catch_up()
        due_stop, due_final, due_refund, due_decision = [], [], [], []
        window, timeout = self.escrow.challenge_window, self.escrow.arbiter_timeout
        rules = self.rules
        async with self.uow() as uow:
            for rental in await uow.rentals.in_states((S.QUOTED, S.AWAITING_PAYMENT)):
                deadline = (
                    rental.hold_until
                    if rental.state == S.AWAITING_PAYMENT
                    else rental.quote_expires_at
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
                    elif rental.paid_until - now <= rules.warn_before_end_s:
                        await enqueue(
                            uow,
                            EndingSoon(stored_id(rental), rental.paid_until),
                            user_id=rental.renter_id,
                            dedupe_key=f"warn:{rental.id}:{rental.paid_until}",
                            now=now,
                        )
                        counts["warned"] += 1
                elif (
                    rental.state != S.ACTIVE
                    and (rental.funded_at or now) + rules.accept_timeout_s < now
                ):
                    due_refund.append(rental)
            for rental in await uow.rentals.in_states((S.ENDED, S.DISPUTED)):
                if rental.state == S.ENDED:
                    due = (rental.ended_at or now) + window
                else:  # mirrored no earlier than the chain's disputedAt: never too early
                    due = (rental.disputed_at or now) + timeout
                    if due_for_decision(rental, now, rules.arbiter_delay_s, timeout):
                        due_decision.append(rental)
                if due <= now:
                    due_final.append(rental)
            await uow.commit()
        stop = functools.partial(self.settlement.run, action=SettlementAction.STOP_EXPIRED)
        finalize = functools.partial(self.settlement.run, action=SettlementAction.FINALIZE)
        # each rental alone: one that raises is logged with a reference and benched for a while
        # (core.services.isolation); the others are served on this pass
        for step, rentals, call in (
            ("stopped", due_stop, stop),
            ("decided", due_decision, self.arbiter.arbitrate),
            ("finalized", due_final, finalize),
            ("refunded", due_refund, self._refund),
        ):
            for rental in rentals:
                what = f"keeper step {step!r} of rental {rental.id}"
                once = functools.partial(call, rental)
                counts[step] += await self.quarantine.run(what, (step, rental.id), once, 0)
        # follow-up calls a process that died after its commit never made (grants, starts, revokes)
        counts.update(await self.recovery.repair())
        counts["claimed"] = await self.payouts.retry()  # payouts the token refused at settlement
        return counts

    async def _refund(self, rental: Rental) -> int:
        await self.bus.execute(RefundUnstarted.of(rental))
        return 1
