"""Held payouts: money the escrow parked because the token refused a transfer, until it is paid.

The escrow pushes a settlement's payments itself; when the token refuses one (a blocklisted
recipient, a paused token) the escrow parks the amount in ``claimable[to]``, emits
``PushFailed`` and the settlement still closes. Nobody is told "paid" for such a payout: it is
recorded here as held, and the keeper retries ``claimFor(address)`` (the platform's relayer pays
the gas: a provider never needs any) with backoff. Each retry reads ``claimable`` and dry-runs
first, so a token that still refuses costs no gas. A ``Claimed`` event for the address (ours, or
the owner's own ``claim``) pays every payout parked before it; then the recipient is told "paid".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from core.domain.chain_events import PaymentParked, PayoutClaimed
from core.domain.model import HeldPayout, Rental, stored_id
from core.errors import PaymentError, PaymentRefused
from core.notifications import from_payload, to_payload
from core.notifications.providers import PayoutHeld, PayoutPaid, RefundHeld, RefundPaid
from core.notifications.rentals import Settled
from core.ports import Clock, EscrowPort
from core.services.base import UnitOfWork, UowFactory, enqueue, provider_of

if TYPE_CHECKING:
    from core.services.messagebus import MessageBus

log = logging.getLogger(__name__)
HELD, PAID = "held", "paid"
PROVIDER, RENTER = "provider", "renter"
RETRY_FIRST_S = 60  # a paused token is often back within minutes
RETRY_MAX_S = 3600  # a blocklisting is lifted by a person: hourly is soon enough
MAX_REASON = 200


def retry_delay(attempts: int) -> int:
    """Seconds until the next claim attempt after ``attempts`` refused ones (1 min .. 1 h)."""
    # a shift, not 2 ** n: int ** int is typed Any (a negative power is a float)
    return min(RETRY_MAX_S, RETRY_FIRST_S << min(max(attempts - 1, 0), 12))


# -- chain events (inside the lifecycle's transaction) ---------------------------------------------
async def push_failed(uow: UnitOfWork, rental: Rental, ev: PaymentParked, now: int) -> None:
    """Record a refused push of ``rental``'s settlement as held, and take back the "paid" that
    its ``RentalSettled`` (earlier in the same transaction) staged: the provider's payout
    notice is dropped, the renter's receipt shows the refund as held. The recipient hears
    more after the first retry (:meth:`HeldPayouts.retry`)."""
    address = ev.to
    if address == (rental.provider_address or "").lower():
        role, user_id = PROVIDER, (await provider_of(uow, rental)).user_id
    elif address == (rental.renter_address or "").lower():
        role, user_id = RENTER, rental.renter_id
    else:  # the contract pays only the rental's two parties
        log.error("PushFailed of rental %s to a stranger %s ignored", rental.id, address)
        return
    payout = HeldPayout(
        rental_id=stored_id(rental),
        user_id=user_id,
        role=role,
        address=address,
        amount=ev.amount,
        tx_hash=ev.tx_hash,
        log_index=ev.log_index,
        block_number=ev.block_number,
        held_at=now,
        next_try_at=now,
    )
    uow.payouts.add(payout)
    paid_by = await uow.payouts.claim_after(address, ev.block_number, ev.log_index)
    if paid_by is not None:  # mirrored after the claim that already paid it: it was paid
        payout.status, payout.paid_at, payout.paid_tx = PAID, now, paid_by
        return
    if role == PROVIDER:
        await uow.outbox.discard(f"provider_payout:{rental.id}")
        return
    receipt = await uow.outbox.unsent(f"settled:{rental.id}")
    if receipt is not None and receipt.payload is not None:
        settled = from_payload(receipt.kind, receipt.payload)
        assert isinstance(settled, Settled), receipt.kind  # only settlements are keyed so
        view = settled.receipt
        view = replace(view, refund_held=view.refund_held + payout.amount)
        receipt.payload = to_payload(replace(settled, receipt=view))


async def claimed(uow: UnitOfWork, ev: PayoutClaimed, now: int) -> None:
    """A ``Claimed`` for an address (its ``escrow_id``) paid everything parked for it before."""
    rows = await uow.payouts.held_before(ev.escrow_id, ev.block_number, ev.log_index)
    await _mark_paid(uow, rows, now, ev.tx_hash)


async def _mark_paid(
    uow: UnitOfWork, rows: Iterable[HeldPayout], now: int, tx_hash: str | None
) -> None:
    for row in rows:
        row.status, row.paid_at, row.paid_tx = PAID, now, tx_hash
        paid = PayoutPaid if row.role == PROVIDER else RefundPaid
        await enqueue(
            uow,
            paid(**_fields(row), tx=tx_hash),
            user_id=row.user_id,
            dedupe_key=f"heldpaid:{row.id}",
            now=now,
        )


def _fields(row: HeldPayout) -> dict[str, Any]:
    """What every message about a held payment says (core.notifications.providers)."""
    return {
        "rental_id": row.rental_id,
        "amount": row.amount,
        "address": row.address,
        "reason": row.reason,
    }


# -- the keeper's job ----------------------------------------------------------------------------
class HeldPayouts:
    """The keeper's retries of held payouts (``claimFor``), one address at a time."""

    def __init__(
        self, uow: UowFactory, clock: Clock, *, escrow: EscrowPort, bus: MessageBus
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.escrow = escrow
        self.bus = bus

    async def retry(self) -> int:
        """One pass over the held payouts that are due (a failure is that address's alone);
        returns how many addresses were paid."""
        now = self.clock.now()
        async with self.uow(readonly=True) as uow:
            due = await uow.payouts.due(now)
        paid = 0
        for address in dict.fromkeys(p.address for p in due):
            try:
                paid += await self._retry(address)
            except Exception:  # one address's trouble never stops the others
                log.exception("retrying the held payouts of %s failed; retried later", address)
                await self._refused(address, None)
        return paid

    async def _retry(self, address: str) -> int:
        try:
            parked = await self.escrow.claimable(address)
        except PaymentError as exc:  # the node did not answer: no news about the token
            log.warning("claimable(%s) not read: %s", address, exc)
            await self._refused(address, None)
            return 0
        if parked == 0:  # somebody's claim (its owner's own) paid it; the watcher mirrors it too
            async with self.uow() as uow:
                await _mark_paid(uow, await uow.payouts.held_for(address), self.clock.now(), None)
                await uow.commit()
            return 1
        try:
            receipt = await self.escrow.claim_for(address)
        except PaymentRefused as exc:  # the dry run said no: the token's reason, no gas spent
            await self._refused(address, exc.user_message, exc.key)
            return 0
        except PaymentError as exc:  # the node failed (the claim may even have gone through)
            log.warning("claimFor(%s) failed: %s", address, exc)
            await self._refused(address, None)
            return 0
        await self.bus.record(receipt)  # its Claimed marks them paid and tells the payees
        return 1

    async def _refused(self, address: str, reason: str | None, code: str | None = None) -> None:
        """Back off; the first refusal of each payout tells its recipient that it is held, with
        the reason (English words; ``code`` names a known one for the catalogue) when known."""
        now = self.clock.now()
        async with self.uow() as uow:
            for row in await uow.payouts.held_for(address):
                first = row.attempts == 0
                row.attempts += 1
                row.next_try_at = now + retry_delay(row.attempts)
                if reason:
                    row.reason = reason[:MAX_REASON]
                if first:
                    held = PayoutHeld if row.role == PROVIDER else RefundHeld
                    retry_s = retry_delay(row.attempts)
                    await enqueue(
                        uow,
                        held(**_fields(row), retry_s=retry_s, reason_code=code),
                        user_id=row.user_id,
                        dedupe_key=f"held:{row.id}",
                        now=now,
                    )
            await uow.commit()


# -- views -------------------------------------------------------------------------------------
def held_refunds(rows: Iterable[HeldPayout]) -> dict[int, int]:
    """Rental id -> the renter's refund still held by the escrow."""
    out: dict[int, int] = {}
    for row in rows:
        if row.role == RENTER and row.status == HELD:
            out[row.rental_id] = out.get(row.rental_id, 0) + row.amount
    return out
