"""Late results that drive a rental: the wallet's signatures and the agent's grants.

Implements ``core.ports.RentalEvents``. A signed request is relayed to the escrow and the
receipt's events are mirrored through the message bus (``core.services.messagebus``), which
applies chain events idempotently (tx hash + log index) with their handlers
(``core.services.chain_handlers``); every state change and the message it causes commit in one
transaction; calls to the escrow and the agents happen after the commit, so a crash in between
is repaired by the keeper or by the event being delivered again.
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass

from core.domain.model import Rental, stored_id
from core.domain.rentals import RentalState as S
from core.domain.signatures import (
    DisputeRelay,
    ExtendRelay,
    OpenRelay,
    RelayParams,
    SignatureKind,
    StopRelay,
)
from core.errors import PaymentError
from core.notifications import Notification
from core.notifications.rentals import SignatureExpired
from core.notifications.wallet import PaymentFailed, SignatureFailed
from core.ports import AgentGateway, ChainEvent, ChainReceipt, EscrowPort
from core.services.base import enqueue, present
from core.services.messagebus import MessageBus
from core.services.provisioning import Provisioning
from core.services.rental_rules import cancel_unpaid, escrow_id_of, renter_wallet, terms_of

log = logging.getLogger(__name__)


@dataclass(repr=False, eq=False)
class RentalLifecycle(Provisioning):
    _: KW_ONLY
    escrow: EscrowPort
    agents: AgentGateway
    bus: MessageBus

    # -- signatures ----------------------------------------------------------------------
    async def signature_received(self, request_id: str, signature: str) -> None:
        """Submit what the wallet signed; a replayed or expired answer changes nothing."""
        now = self.clock.now()
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(request_id)
            if pending is None or not pending.is_pending:
                log.info("ignoring answer for unknown or used signature request")
                return
            if pending.rental_id is None:  # connect/register: core.services.signing routes them
                log.warning("signature for a %s request reached the rental lifecycle", pending.kind)
                return
            rental = present(
                await uow.rentals.get(pending.rental_id), f"rental {pending.rental_id}"
            )
            # kept with the request: the keeper relays it again if this process dies first
            signed = pending.sign(now, signature)
            kind, params = pending.kind, pending.relay_params()
            await uow.commit()
        if not signed:
            await self._tell(rental, SignatureExpired(stored_id(rental)))
            return
        if params is None:
            log.warning("signature of unknown kind %s ignored", str(kind)[:32])
            return
        try:
            receipt = await self._relay(rental, params, signature)
        except PaymentError as exc:
            await self._payment_failed(stored_id(rental), kind, exc)
            return
        # one transaction: a stop that settles at once never shows "ended" without the receipt
        await self.bus.record(receipt)

    async def relay_again(self, rental: Rental, params: RelayParams, signature: str) -> bool:
        """Relay a stored signature whose first relay a dead process never finished (the
        keeper). True when it went through; a refusal (already on chain, expired) changes
        nothing and is left to the watcher and the keeper's expiries."""
        try:
            receipt = await self._relay(rental, params, signature)
        except PaymentError as exc:
            log.info("relaying %s of rental %s again refused: %s", params, rental.id, exc)
            return False
        await self.bus.record(receipt)
        return True

    async def _relay(self, rental: Rental, params: RelayParams, signature: str) -> ChainReceipt:
        """Hand a signed request to the escrow, by the type of its parameters."""
        e = self.escrow
        # the renter signed, so the rental has their wallet; all but an open act on its escrow
        renter = renter_wallet(rental)
        match params:
            case OpenRelay():
                return await e.open(terms_of(rental), renter, signature)
            case ExtendRelay(amount, salt, valid_before):
                return await e.extend(
                    escrow_id_of(rental), renter, amount, salt, valid_before, signature
                )
            case StopRelay(deadline):
                return await e.stop_and_settle(escrow_id_of(rental), renter, signature, deadline)
            case DisputeRelay(evidence, deadline):
                return await e.open_dispute(
                    escrow_id_of(rental), renter, evidence, deadline, signature
                )
        raise TypeError(f"no escrow call for {params!r}")

    async def signature_failed(self, request_id: str, reason: str) -> None:
        """The wallet rejected or never answered any request (a rental's, a connect, a payout
        proof): release what it held and tell the user why."""
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(request_id)
            if pending is None or not pending.is_pending:
                return
            pending.fail()
            if pending.kind == SignatureKind.OPEN and pending.rental_id is not None:
                rental = await uow.rentals.get(pending.rental_id)
                if rental is not None and rental.state == S.AWAITING_PAYMENT:
                    await cancel_unpaid(uow, rental, "signature rejected")
            await enqueue(
                uow,
                SignatureFailed(pending.kind, pending.rental_id, str(reason)[:200]),
                user_id=pending.user_id,
                dedupe_key=f"sigfail:{request_id}",
                now=self.clock.now(),
            )
            await uow.commit()

    async def _payment_failed(self, rental_id: int, kind: str, exc: PaymentError) -> None:
        async with self.uow() as uow:
            rental = present(await uow.rentals.get(rental_id), f"rental {rental_id}")
            if kind == SignatureKind.OPEN and rental.state == S.AWAITING_PAYMENT:
                await cancel_unpaid(uow, rental, "payment failed")
            await enqueue(
                uow,
                PaymentFailed(rental_id, kind, **exc.as_reason(200)),
                user_id=rental.renter_id,
                dedupe_key=f"payfail:{rental_id}:{kind}:{self.clock.now()}",
                now=self.clock.now(),
            )
            await uow.commit()

    # -- chain events ----------------------------------------------------------------------
    async def chain_event(self, event: ChainEvent) -> None:
        """Mirror one escrow event into the database, exactly once (``core.ports.RentalEvents``;
        the bus does the work)."""
        await self.bus.apply([event])

    async def _tell(self, rental: Rental, notification: Notification) -> None:
        async with self.uow() as uow:
            await enqueue(
                uow,
                notification,
                user_id=rental.renter_id,
                dedupe_key=f"{notification.KIND}:{rental.id}:{self.clock.now()}",
                now=self.clock.now(),
            )
            await uow.commit()
