"""The arbiter: decides disputed rentals from the evidence the agent and the service recorded,
the service's own probes of the machine weighing over the agent's reports about itself.

A dispute is decided once ``arbiter_delay_s`` has passed since it was opened (the agent's
buffered beats and SSH logs have arrived by then) and before the escrow's arbiter timeout,
after which anyone's ``finalize`` applies the time-based bill instead. The award
(``core.domain.disputes.decide``) never exceeds the bill, which the contract enforces too.
The escrow's DisputeResolved and RentalSettled events then settle the rental through the
lifecycle as usual; both parties hear the decision with its figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from core.domain.disputes import Decision, decide, outages_from, unbacked_spans
from core.domain.model import stored_id
from core.domain.reliability import HEARTBEAT_COVERAGE
from core.domain.verification import SERVICE_PROBE, VERIFIED_FOR_S
from core.errors import CoreError
from core.services.base import present

if TYPE_CHECKING:
    from core.domain.model import Rental
    from core.ports import EscrowPort
    from core.services.base import UnitOfWork, UowFactory
    from core.services.messagebus import MessageBus

log = logging.getLogger(__name__)

# an evidence record's data: a JSON object as the agent or the service stored it
Data = dict[str, Any]


def evidence_hash(records: list[tuple[str, int, Data]], reason: str) -> str:
    """The bytes32 committed on chain when a dispute opens: the evidence so far and the
    reason, canonical JSON, SHA-256 (anyone holding the records can check it)."""
    bundle = {"reason": reason, "evidence": [[k, at, data] for k, at, data in records]}
    blob = json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode()
    return "0x" + hashlib.sha256(blob).hexdigest()


async def _readable_evidence(uow: UnitOfWork, rental_id: int) -> list[tuple[int, str, int, Data]]:
    """(record id, kind, at, data) of a rental's evidence; a record whose data is not a JSON
    object (a damaged row) is left out and logged with its id."""
    out: list[tuple[int, str, int, Data]] = []
    for r in await uow.evidence.for_rental(rental_id):
        data = r.data
        if not isinstance(data, dict):
            log.warning("evidence record %s of rental %s is unreadable; skipped", r.id, rental_id)
            continue
        out.append((stored_id(r), r.kind, r.at, data))
    return out


async def evidence_of(uow: UnitOfWork, rental_id: int) -> list[tuple[str, int, Data]]:
    """The rental's readable evidence (agents' and the service's heartbeat records); a
    ``service_probe`` record there is not the service's and is left out."""
    return [
        (kind, at, data)
        for _, kind, at, data in await _readable_evidence(uow, rental_id)
        if kind != SERVICE_PROBE
    ]


async def service_probes(uow: UnitOfWork, rental: Rental, end: int) -> list[tuple[str, int, Data]]:
    """The service's own probes of the rental's machine that bear on it: from one
    verification's worth before its start to its end, as ``service_probe`` evidence."""
    start = rental.started_at or end
    verdicts = await uow.probes.verdicts(rental.machine_id, start - VERIFIED_FOR_S, end)
    return [(SERVICE_PROBE, at, {"passed": passed}) for at, passed in verdicts]


async def decision_for(uow: UnitOfWork, rental: Rental) -> Decision:
    """What the arbiter awards for ``rental`` given the evidence recorded so far: down time
    from the heartbeats, and every second no passed service probe backs (the agent's own
    reports never win against the renter's claim alone). A record that does not hold what its
    kind must is left out (logged with its id), never fatal."""
    start = rental.started_at or 0
    end = start + rental.billable_seconds()
    rows = [
        row for row in await _readable_evidence(uow, stored_id(rental)) if row[1] != SERVICE_PROBE
    ]

    def skipped(position: int, exc: Exception) -> None:
        record = rows[position][0]
        log.warning("evidence record %s of rental %s skipped: %s", record, rental.id, exc)

    records = [(kind, at, data) for _, kind, at, data in rows]
    outages = outages_from(records, grace_s=HEARTBEAT_COVERAGE, on_bad=skipped)
    probes = [(at, data["passed"]) for _, at, data in await service_probes(uow, rental, end)]
    unbacked = unbacked_spans(probes, start, end, VERIFIED_FOR_S)
    return decide(start, end, rental.price_per_hour, [*outages, *unbacked])


def due_for_decision(rental: Rental, now: int, delay_s: int, timeout_s: int) -> bool:
    opened = rental.disputed_at
    return opened is not None and opened + delay_s <= now < opened + timeout_s


class Arbiter:
    """Decides disputed rentals on chain (the escrow's ``resolve``)."""

    def __init__(self, uow: UowFactory, *, escrow: EscrowPort, bus: MessageBus) -> None:
        self.uow = uow
        self.escrow = escrow
        self.bus = bus

    async def arbitrate(self, rental: Rental) -> int:
        """Decide one disputed rental on chain; 1 when the escrow accepted the decision.

        A refused or failed call is logged and retried on the next keeper pass (the arbiter
        timeout then falls back to the time-based bill)."""
        async with self.uow(readonly=True) as uow:
            decision = await decision_for(uow, rental)
        try:
            receipt = await self.escrow.resolve(
                present(rental.escrow_id, f"escrow id of disputed rental {rental.id}"),
                decision.provider_gross,
            )
        except CoreError as exc:
            log.warning("deciding the dispute of rental %s failed (%s); retried", rental.id, exc)
            return 0
        log.info(
            "dispute of rental %s decided: %s s down of %s s, provider gross %s of %s",
            rental.id,
            decision.outage_seconds,
            decision.billed_seconds,
            decision.provider_gross,
            decision.billed,
        )
        await self.bus.record(receipt)
        return 1
