"""Late results that drive a rental: signatures, agent grants, chain events, and the keeper.

Implements ``core.ports.RentalEvents``. Chain events are applied idempotently (tx hash + log
index); every state change and the message it causes commit in one transaction; calls to the
escrow and the agents happen after the commit, so a crash in between is repaired by the keeper
or by the event being delivered again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

from core.domain.billing import billed as billed_for
from core.domain.model import ChainEventRecord, Rental
from core.domain.rentals import RentalState as S
from core.errors import CoreError, PaymentError
from core.ports import (
    AgentGateway,
    ChainEvent,
    ChainReceipt,
    Clock,
    EscrowPort,
    KeyPairFactory,
)
from core.services.base import MarketRules, Service, UnitOfWork, UowFactory, enqueue
from core.services.instances import gpu_uuids
from core.services.isolation import Quarantine
from core.services.keeper import tick as keeper_tick
from core.services.mirror import Mirror
from core.services.notifications import NEVER as HELD
from core.services.payouts import ACCOUNT_EVENTS, claimed, push_failed
from core.services.provisioning import (
    KEY_SLACK_S,
    Provisioning,
    credentials_payload,
    why_refunded,
)
from core.services.receipts import receipt_view
from core.services.rentals import cancel_unpaid, terms_of

log = logging.getLogger(__name__)


class RentalLifecycle(Provisioning, Service):
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules,
        *,
        escrow: EscrowPort,
        agents: AgentGateway,
        keys: KeyPairFactory,
    ) -> None:
        super().__init__(uow, clock, rules)
        self.escrow = escrow
        self.agents = agents
        self.keys = keys
        self.mirrors = Mirror(lambda events: self.chain_events(events))  # retried, then kept
        self.quarantine = Quarantine(clock)  # the keeper's benched rentals (one bad never stops it)

    # -- signatures ----------------------------------------------------------------------
    async def signature_received(self, request_id: str, signature: str) -> None:
        """Submit what the wallet signed; a replayed or expired answer changes nothing."""
        now = self.clock.now()
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(request_id)
            if pending is None or pending.status != "pending":
                log.info("ignoring answer for unknown or used signature request")
                return
            if pending.rental_id is None:  # connect/register: core.services.signing routes them
                log.warning("signature for a %s request reached the rental lifecycle", pending.kind)
                return
            rental = await uow.rentals.get(pending.rental_id)
            if pending.expires_at < now:
                pending.status = "expired"
                await uow.commit()
                await self._tell(rental, "signature_expired", {})
                return
            pending.status = "signed"
            kind, payload = pending.kind, json.loads(pending.payload_json)
            # kept with the request: the keeper relays it again if this process dies first
            pending.payload_json = json.dumps(
                {**payload, "signature": signature, "signed_at": now}, separators=(",", ":")
            )
            await uow.commit()
        try:
            receipt = await self._relay(rental, kind, payload, signature)
            if receipt is None:
                log.warning("signature of unknown kind %s ignored", kind)
                return
        except PaymentError as exc:
            await self._payment_failed(rental.id, kind, exc)
            return
        # one transaction: a stop that settles at once never shows "ended" without the receipt
        await self.mirror(receipt)

    async def relay_again(self, rental: Rental, kind: str, payload: dict) -> bool:
        """Relay a stored signature whose first relay a dead process never finished (the
        keeper). True when it went through; a refusal (already on chain, expired) changes
        nothing and is left to the watcher and the keeper's expiries."""
        try:
            receipt = await self._relay(rental, kind, payload, payload["signature"])
        except PaymentError as exc:
            log.info("relaying %s of rental %s again refused: %s", kind, rental.id, exc)
            return False
        if receipt is None:
            return False
        await self.mirror(receipt)
        return True

    async def _relay(
        self, rental: Rental, kind: str, payload: dict, signature: str
    ) -> ChainReceipt | None:
        """Hand a signed request to the escrow; None for a kind it does not know."""
        e, renter = self.escrow, rental.renter_address
        if kind == "open":
            return await e.open(terms_of(rental), renter, signature)
        if kind == "extend":
            amount, salt, valid_before = payload["amount"], payload["salt"], payload["valid_before"]
            return await e.extend(rental.escrow_id, renter, amount, salt, valid_before, signature)
        if kind == "stop":
            return await e.stop_and_settle(rental.escrow_id, renter, signature, payload["deadline"])
        if kind == "dispute":
            evidence, deadline = payload["evidence_hash"], payload["deadline"]
            return await e.open_dispute(rental.escrow_id, renter, evidence, deadline, signature)
        return None

    async def signature_failed(self, request_id: str, reason: str) -> None:
        """The wallet rejected or never answered any request (a rental's, a connect, a payout
        proof): release what it held and tell the user why."""
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(request_id)
            if pending is None or pending.status != "pending":
                return
            pending.status = "failed"
            if pending.kind == "open" and pending.rental_id is not None:
                rental = await uow.rentals.get(pending.rental_id)
                if rental is not None and rental.state == S.AWAITING_PAYMENT:
                    await cancel_unpaid(uow, rental, "signature rejected")
            await enqueue(
                uow,
                user_id=pending.user_id,
                kind="signature_failed",
                payload={
                    "rental_id": pending.rental_id,
                    "kind": pending.kind,
                    "reason": str(reason)[:200],
                },
                dedupe_key=f"sigfail:{request_id}",
                now=self.clock.now(),
            )
            await uow.commit()

    async def _payment_failed(self, rental_id: int, kind: str, exc: PaymentError) -> None:
        async with self.uow() as uow:
            rental = await uow.rentals.get(rental_id)
            if kind == "open" and rental.state == S.AWAITING_PAYMENT:
                await cancel_unpaid(uow, rental, "payment failed")
            await enqueue(
                uow,
                user_id=rental.renter_id,
                kind="payment_failed",
                payload={"rental_id": rental_id, "kind": kind, **exc.as_reason(200)},
                dedupe_key=f"payfail:{rental_id}:{kind}:{self.clock.now()}",
                now=self.clock.now(),
            )
            await uow.commit()

    # -- chain events ----------------------------------------------------------------------
    async def chain_event(self, event: ChainEvent) -> None:
        """Mirror one escrow event into the database, exactly once."""
        await self.chain_events([event])

    async def chain_events(self, events: Sequence[ChainEvent]) -> int:
        """Mirror escrow events (in chain order) in one transaction, each exactly once by
        (tx hash, log index); return how many were new. Raises CoreError (an illegal
        transition) and then applies none of them."""
        now = self.clock.now()
        after: list = []
        fresh = 0
        async with self.uow() as uow:
            for event in events:
                fresh += await self._apply(uow, event, now, after)
            await uow.commit()
        for action in after:
            await action()
        return fresh

    async def mirror(self, receipt: ChainReceipt) -> int:
        """Mirror what an escrow call of this process just did (``core.services.mirror``)."""
        return await self.mirrors.record(receipt)

    async def _apply(self, uow: UnitOfWork, event: ChainEvent, now: int, after: list) -> bool:
        recorded = await uow.chain_events.record(
            ChainEventRecord(
                tx_hash=event.tx_hash,
                log_index=event.log_index,
                block_number=event.block_number,
                name=event.name,
                escrow_id=event.escrow_id,
                args_json=json.dumps(dict(event.args), sort_keys=True, default=str),
                applied_at=now,
            )
        )
        if not recorded:
            return False
        if event.name in ACCOUNT_EVENTS:  # about an address (a claim), not a rental
            await claimed(uow, event, now)
            return True
        rental = await uow.rentals.by_escrow_id(event.escrow_id)
        if rental is None:
            log.warning("event %s for unknown escrow id %s", event.name, event.escrow_id)
            return True
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            await handler(uow, rental, event, now, after)
        return True

    async def _on_RentalOpened(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        if rental.state == S.CANCELLED:
            # paid after the hold lapsed: the money is on chain, give it straight back
            after.append(lambda: self._cancel_funded(rental))
            return
        rental.transition(S.FUNDED)
        rental.funded_at = now
        rental.open_tx = ev.tx_hash
        held = len(gpu_uuids(rental))
        if await uow.gpus.keep(rental.id) < held:
            # paid after its hold ran out and another renter took a GPU: give it back
            rental.cancel_reason = "paid after the hold expired; the GPUs were taken"
            after.append(lambda: self._cancel_funded(rental))
            return
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind="payment_seen",
            payload={"rental_id": rental.id, "deposit": rental.deposit, "tx": ev.tx_hash},
            dedupe_key=f"paid:{rental.id}",
            now=now,
            private=False,
        )
        private_key = None
        renter = await uow.users.get(rental.renter_id)
        if renter.ssh_public_key:
            rental.public_key = renter.ssh_public_key
        else:
            private_key, rental.public_key = await self.keys.generate(f"rigshare-{rental.id}")
            rental.key_generated = True
            # kept only inside the credentials message; scrubbed once delivered
            await enqueue(
                uow,
                user_id=rental.renter_id,
                kind="private_key",
                payload={"rental_id": rental.id, "private_key": private_key},
                dedupe_key=f"key:{rental.id}",
                now=HELD,  # released with the credentials
            )
        rental.transition(S.PROVISIONING)
        grant = self.grant_for(rental)
        after.append(lambda: self.agents.grant(grant))

    async def _on_RentalStarted(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        rental.transition(S.ACTIVE)
        rental.started_at = int(ev.args["startedAt"])
        rental.paid_until = int(ev.args["paidUntil"])
        rental.start_tx = ev.tx_hash
        await uow.outbox.release(f"key:{rental.id}", now)
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind="credentials",
            payload=credentials_payload(rental),
            dedupe_key=f"creds:{rental.id}",
            now=now,
        )
        await self._tell_provider(uow, rental, "provider_rental_started", now)

    async def _on_RentalExtended(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        rental.deposit = int(ev.args["deposit"])
        rental.paid_until = int(ev.args["paidUntil"])
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind="extended",
            payload={"rental_id": rental.id, "paid_until": rental.paid_until, "tx": ev.tx_hash},
            dedupe_key=f"ext:{ev.tx_hash}:{ev.log_index}",
            now=now,
        )
        # the same instance with a later deadline: the agent moves the running one's
        grant = self.grant_until(rental, rental.paid_until + KEY_SLACK_S)
        after.append(lambda: self.agents.grant(grant))

    async def _on_RentalEnded(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        rental.transition(S.ENDED)
        rental.ended_at = int(ev.args["endedAt"])
        rental.stop_tx = ev.tx_hash
        await uow.gpus.release(
            rental.id, rental.listing_id
        )  # the revoke below deletes the instance first
        machine_id, rental_id = rental.machine_id, rental.id
        after.append(lambda: self.agents.revoke(machine_id, rental_id))
        # dropped again if the settlement is applied in the same transaction (a signed stop)
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind="rental_ended",
            payload={
                "rental_id": rental.id,
                "ended_at": rental.ended_at,
                "settle_by": rental.ended_at + self.escrow.challenge_window,
            },
            dedupe_key=f"ended:{rental.id}",
            now=now,
        )
        await self._tell_provider(uow, rental, "provider_rental_ended", now)

    async def _on_RentalSettled(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        a = ev.args
        rental.provider_net, rental.fee, rental.refund = (
            int(a["providerNet"]),
            int(a["fee"]),
            int(a["refund"]),
        )
        rental.billed = rental.provider_net + rental.fee
        rental.settle_tx = ev.tx_hash
        rental.settled_at = now
        if rental.state == S.CANCELLED:
            kind = "refunded"  # paid after its hold lapsed and handed straight back
        elif rental.state in (S.FUNDED, S.PROVISIONING):
            rental.transition(S.CANCELLED)
            rental.cancel_reason = rental.cancel_reason or "provider never provisioned"
            await uow.gpus.release(rental.id, rental.listing_id)
            await uow.outbox.discard(f"key:{rental.id}")
            machine_id, rental_id = rental.machine_id, rental.id
            after.append(lambda: self.agents.revoke(machine_id, rental_id))
            kind = "refunded"
        elif rental.state == S.DISPUTED:
            rental.transition(S.RESOLVED)
            kind = "dispute_resolved"
        else:
            rental.transition(S.SETTLED)
            kind = "receipt"
        await uow.outbox.discard(f"ended:{rental.id}")
        view = receipt_view(rental)
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind=kind,
            payload={"rental_id": rental.id, "receipt": _plain(view)},
            dedupe_key=f"settled:{rental.id}",
            now=now,
        )
        if kind == "refunded":  # it never ran: say why, not "0 USDC paid to you"
            why = {"why": why_refunded(rental.cancel_reason)}
            await self._tell_provider(uow, rental, "provider_refunded", now, why)
        else:
            await self._tell_provider(uow, rental, "provider_payout", now)

    async def _on_PushFailed(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        await push_failed(uow, rental, ev, now)  # held, not paid: core.services.payouts

    async def _on_DisputeOpened(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        rental.transition(S.DISPUTED)
        # mirrored after the confirmation depth, so never earlier than the chain's disputedAt:
        # the keeper's finalize after the arbiter timeout is never too early
        rental.disputed_at = now
        # it says the rental ended (the dispute ends a running one in the same receipt):
        # the ended notice, which invites a dispute, is dropped if not sent yet
        await uow.outbox.discard(f"ended:{rental.id}")
        ended_at = rental.ended_at if rental.ended_at is not None else now
        await enqueue(
            uow,
            user_id=rental.renter_id,
            kind="dispute_opened",
            payload={"rental_id": rental.id, "tx": ev.tx_hash, "ended_at": ended_at},
            dedupe_key=f"dispute:{rental.id}",
            now=now,
        )
        await self._tell_provider(uow, rental, "provider_dispute", now)

    async def _on_DisputeResolved(self, uow, rental: Rental, ev: ChainEvent, now, after) -> None:  # noqa: N802
        gross = int(ev.args.get("providerGross", 0))
        end = min(rental.ended_at or 0, rental.paid_until or 0)
        billed_full = billed_for(max(0, end - (rental.started_at or end)), rental.price_per_hour)
        rental.dispute_outcome = "provider" if gross >= billed_full else "renter"
        payload = {"rental_id": rental.id, "billed": billed_full, "provider_gross": gross}
        payload["renter_credit"] = max(0, billed_full - gross)
        provider = await uow.providers.get(rental.provider_id)
        for user_id, kind in (
            (rental.renter_id, "dispute_decided"),
            (provider.user_id, "provider_dispute_decided"),
        ):
            await enqueue(
                uow,
                user_id=user_id,
                kind=kind,
                payload=payload,
                dedupe_key=f"{kind}:{rental.id}",
                now=now,
            )

    async def _tell_provider(
        self, uow: UnitOfWork, rental: Rental, kind: str, now: int, extra: dict | None = None
    ) -> None:
        provider = await uow.providers.get(rental.provider_id)
        await enqueue(
            uow,
            user_id=provider.user_id,
            kind=kind,
            payload={
                "rental_id": rental.id,
                "gpu_model": rental.gpu_model,
                "provider_net": rental.provider_net,
                **(extra or {}),
            },
            dedupe_key=f"{kind}:{rental.id}",
            now=now,
        )

    async def _tell(self, rental: Rental, kind: str, payload: dict) -> None:
        async with self.uow() as uow:
            await enqueue(
                uow,
                user_id=rental.renter_id,
                kind=kind,
                payload={"rental_id": rental.id, **payload},
                dedupe_key=f"{kind}:{rental.id}:{self.clock.now()}",
                now=self.clock.now(),
            )
            await uow.commit()

    # -- keeper ----------------------------------------------------------------------------
    async def tick(self) -> dict[str, int]:
        """One keeper pass (``core.services.keeper``); returns what it did, by kind."""
        return await keeper_tick(self)

    async def keep(self, rental: Rental, call: str) -> int:
        """One keeper call to the escrow; its events are applied at once. 1 if it went through."""
        try:
            receipt = await getattr(self.escrow, call)(rental.escrow_id)
        except CoreError as exc:
            log.warning("%s of rental %s failed (%s); retried next tick", call, rental.id, exc)
            return 0
        await self.mirror(receipt)
        return 1


def _plain(view: object) -> dict:
    return asdict(view)
