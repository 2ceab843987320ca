"""What each escrow fact does to a rental, inside the transaction that mirrors it.

``RentalChainHandlers.registry`` is the explicit map from fact type to handler that the
message bus (``core.services.messagebus``) dispatches on. Handlers stage the users' messages in
the same transaction and ask for calls to agents and the escrow as follow-ups
(``core.services.followups``), which run after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from core.domain import chain_events as ev
from core.domain.billing import billed as billed_for
from core.domain.model import Rental, stored_id
from core.domain.rentals import RentalState as S
from core.notifications.providers import (
    ProviderDisputeOpened,
    ProviderPaid,
    ProviderRefunded,
    ProviderRental,
    ProviderRentalEnded,
    ProviderRentalStarted,
)
from core.notifications.rentals import (
    DisputeDecided,
    DisputeDecision,
    DisputeOpened,
    DisputeSettled,
    Extended,
    PaymentSeen,
    PrivateKey,
    ProviderDisputeDecided,
    Refunded,
    RentalEnded,
    RentalSettled,
    Settled,
)
from core.ports import EscrowPort, KeyPairFactory
from core.services.base import MarketRules, UnitOfWork, enqueue, present, provider_of
from core.services.followups import GrantAccess, RefundUnstarted, RevokeAccess
from core.services.instances import gpu_uuids
from core.services.messagebus import Applying, FactHandler
from core.services.notifications import NEVER as HELD
from core.services.payouts import claimed, push_failed
from core.services.provisioning import (
    KEY_SLACK_S,
    credentials_notice,
    grant_for,
    grant_until,
    why_refunded,
)
from core.services.receipts import receipt_view

log = logging.getLogger(__name__)


class RentalChainHandlers:
    """The rental lifecycle's reaction to each escrow fact."""

    def __init__(self, rules: MarketRules, *, escrow: EscrowPort, keys: KeyPairFactory) -> None:
        self.rules = rules
        self.escrow = escrow  # its challenge window, read when a rental ends
        self.keys = keys

    def registry(self) -> Mapping[type[ev.ChainFact], FactHandler]:
        return {
            ev.RentalOpened: self.opened,
            ev.RentalStarted: self.started,
            ev.RentalExtended: self.extended,
            ev.RentalEnded: self.ended,
            ev.RentalSettled: self.settled,
            ev.PaymentParked: self.parked,
            ev.DisputeOpened: self.dispute_opened,
            ev.DisputeResolved: self.dispute_resolved,
            ev.PayoutClaimed: self.payout_claimed,
        }

    async def opened(self, fact: ev.RentalOpened, at: Applying) -> None:
        uow, rental, now = at.uow, at.the_rental, at.now
        rid = stored_id(rental)
        if rental.state == S.CANCELLED:
            # paid after the hold lapsed: the money is on chain, give it straight back
            at.then(RefundUnstarted.of(rental))
            return
        rental.transition(S.FUNDED)
        rental.funded_at = now
        rental.open_tx = fact.tx_hash
        held = len(gpu_uuids(rental))
        if await uow.gpus.keep(rid) < held:
            # paid after its hold ran out and another renter took a GPU: give it back
            rental.cancel_reason = "paid after the hold expired; the GPUs were taken"
            at.then(RefundUnstarted.of(rental))
            return
        await enqueue(
            uow,
            PaymentSeen(rid, rental.deposit, fact.tx_hash),
            user_id=rental.renter_id,
            dedupe_key=f"paid:{rid}",
            now=now,
        )
        renter = present(await uow.users.get(rental.renter_id), f"renter of rental {rid}")
        if renter.ssh_public_key:
            rental.public_key = renter.ssh_public_key
        else:
            private_key, rental.public_key = await self.keys.generate(f"rigshare-{rid}")
            rental.key_generated = True
            # kept only inside the credentials message; scrubbed once delivered
            await enqueue(
                uow,
                PrivateKey(rid, private_key),
                user_id=rental.renter_id,
                dedupe_key=f"key:{rid}",
                now=HELD,  # released with the credentials
            )
        rental.transition(S.PROVISIONING)
        at.then(GrantAccess(grant_for(rental, self.rules)))

    async def started(self, fact: ev.RentalStarted, at: Applying) -> None:
        rental = at.the_rental
        rid = stored_id(rental)
        rental.transition(S.ACTIVE)
        rental.started_at = fact.started_at
        rental.paid_until = fact.paid_until
        rental.start_tx = fact.tx_hash
        await at.uow.outbox.release(f"key:{rid}", at.now)
        try:
            credentials = credentials_notice(rental)
        except ValueError as exc:
            # started on the chain without a grant recorded here (not by this service's
            # relayer): the start still counts; there are no credentials to send
            log.warning("rental %s started without recorded access: %s", rid, exc)
        else:
            await enqueue(
                at.uow,
                credentials,
                user_id=rental.renter_id,
                dedupe_key=f"creds:{rid}",
                now=at.now,
            )
        await _tell_provider(at.uow, rental, ProviderRentalStarted, at.now)

    async def extended(self, fact: ev.RentalExtended, at: Applying) -> None:
        rental = at.the_rental
        rid = stored_id(rental)
        rental.deposit = fact.deposit
        rental.paid_until = fact.paid_until
        await enqueue(
            at.uow,
            Extended(rid, rental.paid_until, fact.tx_hash),
            user_id=rental.renter_id,
            dedupe_key=f"ext:{fact.tx_hash}:{fact.log_index}",
            now=at.now,
        )
        # the same instance with a later deadline: the agent moves the running one's
        at.then(GrantAccess(grant_until(rental, rental.paid_until + KEY_SLACK_S)))

    async def ended(self, fact: ev.RentalEnded, at: Applying) -> None:
        rental = at.the_rental
        rid = stored_id(rental)
        rental.transition(S.ENDED)
        rental.ended_at = fact.ended_at
        rental.stop_tx = fact.tx_hash
        await at.uow.gpus.release(rid, rental.listing_id)  # the revoke deletes it first
        at.then(RevokeAccess(rental.machine_id, rid))
        # dropped again if the settlement is applied in the same transaction (a signed stop)
        await enqueue(
            at.uow,
            RentalEnded(rid, rental.ended_at, rental.ended_at + self.escrow.challenge_window),
            user_id=rental.renter_id,
            dedupe_key=f"ended:{rid}",
            now=at.now,
        )
        await _tell_provider(at.uow, rental, ProviderRentalEnded, at.now)

    async def settled(self, fact: ev.RentalSettled, at: Applying) -> None:
        uow, rental, now = at.uow, at.the_rental, at.now
        rid = stored_id(rental)
        rental.provider_net, rental.fee, rental.refund = fact.provider_net, fact.fee, fact.refund
        rental.billed = rental.provider_net + rental.fee
        rental.settle_tx = fact.tx_hash
        rental.settled_at = now
        kind: type[Settled]
        if rental.state == S.CANCELLED:
            kind = Refunded  # paid after its hold lapsed and handed straight back
        elif rental.state in (S.FUNDED, S.PROVISIONING):
            rental.transition(S.CANCELLED)
            rental.cancel_reason = rental.cancel_reason or "provider never provisioned"
            await uow.gpus.release(rid, rental.listing_id)
            await uow.outbox.discard(f"key:{rid}")
            at.then(RevokeAccess(rental.machine_id, rid))
            kind = Refunded
        elif rental.state == S.DISPUTED:
            rental.transition(S.RESOLVED)
            kind = DisputeSettled
        else:
            rental.transition(S.SETTLED)
            kind = RentalSettled
        await uow.outbox.discard(f"ended:{rid}")
        await enqueue(
            uow,
            kind(rid, receipt_view(rental)),
            user_id=rental.renter_id,
            dedupe_key=f"settled:{rid}",
            now=now,
        )
        if kind is Refunded:  # it never ran: say why, not "0 USDC paid to you"
            why = why_refunded(rental.cancel_reason)
            await _tell_provider(uow, rental, ProviderRefunded, now, why=why)
        else:
            await _tell_provider(uow, rental, ProviderPaid, now)

    async def parked(self, fact: ev.PaymentParked, at: Applying) -> None:
        await push_failed(
            at.uow, at.the_rental, fact, at.now
        )  # held, not paid: core.services.payouts

    async def payout_claimed(self, fact: ev.PayoutClaimed, at: Applying) -> None:
        await claimed(at.uow, fact, at.now)

    async def dispute_opened(self, fact: ev.DisputeOpened, at: Applying) -> None:
        rental, now = at.the_rental, at.now
        rid = stored_id(rental)
        rental.transition(S.DISPUTED)
        # mirrored after the confirmation depth, so never earlier than the chain's disputedAt:
        # the keeper's finalize after the arbiter timeout is never too early
        rental.disputed_at = now
        # it says the rental ended (the dispute ends a running one in the same receipt):
        # the ended notice, which invites a dispute, is dropped if not sent yet
        await at.uow.outbox.discard(f"ended:{rid}")
        ended_at = rental.ended_at if rental.ended_at is not None else now
        await enqueue(
            at.uow,
            DisputeOpened(rid, fact.tx_hash, ended_at),
            user_id=rental.renter_id,
            dedupe_key=f"dispute:{rid}",
            now=now,
        )
        await _tell_provider(at.uow, rental, ProviderDisputeOpened, now)

    async def dispute_resolved(self, fact: ev.DisputeResolved, at: Applying) -> None:
        rental, gross = at.the_rental, fact.provider_gross
        rid = stored_id(rental)
        billed_full = billed_for(rental.billable_seconds(), rental.price_per_hour)
        rental.dispute_outcome = "provider" if gross >= billed_full else "renter"
        credit = max(0, billed_full - gross)
        provider = await provider_of(at.uow, rental)
        decision: type[DisputeDecision]
        for user_id, decision in (
            (rental.renter_id, DisputeDecided),
            (provider.user_id, ProviderDisputeDecided),
        ):
            await enqueue(
                at.uow,
                decision(rid, billed_full, gross, credit),
                user_id=user_id,
                dedupe_key=f"{decision.KIND}:{rid}",
                now=at.now,
            )


async def _tell_provider(
    uow: UnitOfWork, rental: Rental, kind: type[ProviderRental], now: int, **extra: str
) -> None:
    rid, provider = stored_id(rental), await provider_of(uow, rental)
    await enqueue(
        uow,
        kind(rid, rental.gpu_model, rental.provider_net, **extra),
        user_id=provider.user_id,
        dedupe_key=f"{kind.KIND}:{rid}",
        now=now,
    )
