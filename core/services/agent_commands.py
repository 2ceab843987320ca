"""The command channel to provider agents: queue grants and revokes, hand them out in order,
apply the results once, and keep the evidence that comes with them.

Commands get a per-machine ``seq`` and a ``valid_until``; a result is applied only the first
time it arrives (a replay is ignored) and only for a command of the machine that sends it.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

from core.domain.model import AgentCommandRecord, EvidenceRecord, stored_id
from core.errors import NotFound, ValidationError
from core.ports import AccessGrant, AccessInfo, Clock, RentalEvents
from core.services.base import MarketRules, Service, UowFactory, present
from core.services.views import EvidenceView, Principal
from core.wire import (
    MAX_COMMANDS,
    AgentCommand,
    CommandBatch,
    CommandResult,
    Evidence,
    InstanceRequest,
    ResultAck,
    ResultBatch,
)

log = logging.getLogger(__name__)
REVOKE_SLACK_S = 86_400  # a revoke stays runnable a day past the key's own expiry
PROBE_KINDS = ("probe", "unprobe")  # their rental_id is a probe's id (core.services.probes)
# the kinds core.wire.AgentCommand carries; a stored row holds one of them as plain text
CommandKind = Literal["grant", "revoke", "probe", "unprobe"]
_KINDS: tuple[CommandKind, ...] = get_args(CommandKind)


class AgentCommandService(Service):
    """Raises ValidationError for results that break the protocol (nothing is stored then)."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules | None = None,
        *,
        events: RentalEvents | None = None,
    ) -> None:
        super().__init__(uow, clock, rules)
        self.events = events

    def bind(self, events: RentalEvents) -> None:
        self.events = events

    async def queue_grant(self, grant: AccessGrant) -> AgentCommand:
        """Queue "run the rental's instance with this key until ``expires_at``" (or move the
        deadline of the instance that runs); valid for the accept timeout."""
        now = self.clock.now()
        payload: dict[str, object] = {
            "public_key": grant.public_key,
            "expires_at": grant.expires_at,
        }
        if grant.instance is not None:
            payload["instance"] = grant.instance.model_dump(mode="json")
        return await self._append(
            grant.machine_id, "grant", grant.rental_id, payload, now + self.rules.accept_timeout_s
        )

    async def queue_revoke(self, machine_id: int, rental_id: int) -> AgentCommand:
        """Queue "remove the rental's access"; a grant not yet handed out is dropped."""
        now = self.clock.now()
        expiry = now
        async with self.uow() as uow:
            for cmd in await uow.agent_commands.for_rental(rental_id):
                if cmd.kind != "grant":
                    continue
                expiry = max(expiry, cmd.payload.get("expires_at") or 0)
                if cmd.done_at is None and cmd.delivered_at is None:
                    await uow.agent_commands.complete(stored_id(cmd), {"superseded": True}, now)
            await uow.commit()
        return await self._append(machine_id, "revoke", rental_id, {}, expiry + REVOKE_SLACK_S)

    async def _append(
        self,
        machine_id: int,
        kind: CommandKind,
        rental_id: int,
        payload: dict[str, object],
        valid_until: int,
    ) -> AgentCommand:
        record = command_record(machine_id, kind, rental_id, payload, self.clock.now(), valid_until)
        async with self.uow() as uow:
            await uow.agent_commands.append(record)
            await uow.commit()
        return _wire(record)

    async def pending(
        self, machine_id: int, after_seq: int, limit: int = MAX_COMMANDS
    ) -> CommandBatch:
        """The machine's unanswered, still valid commands with seq > ``after_seq``."""
        return (await self.poll(machine_id, after_seq, limit))[0]

    async def poll(
        self, machine_id: int, after_seq: int, limit: int = MAX_COMMANDS
    ) -> tuple[CommandBatch, bool]:
        """:meth:`pending`, and whether the machine has any unanswered valid command at all
        (also older than ``after_seq``: delivered, not answered yet)."""
        now = self.clock.now()
        async with self.uow(readonly=True) as uow:
            found = list(await uow.agent_commands.pending(machine_id, after_seq, now, limit))
            still_open = bool(found) or await uow.agent_commands.has_open(machine_id, now)
        fresh = [stored_id(c) for c in found if c.delivered_at is None]
        if fresh:
            async with self.uow() as uow:
                await uow.agent_commands.mark_delivered(fresh, now)
                await uow.commit()
        return CommandBatch(commands=[_wire(c) for c in found], server_time=now), still_open

    async def record_results(self, machine_id: int, batch: ResultBatch) -> ResultAck:
        """Apply results and store evidence; grant outcomes go to the rental lifecycle.

        Raises ValidationError (nothing stored) for a successful grant without access
        details or evidence outside a result that names no rental.
        """
        if any(ev.rental_id is None for ev in batch.evidence):
            raise ValidationError("Evidence outside a command result must name its rental.")
        now = self.clock.now()
        accepted: list[int] = []
        ignored: list[int] = []
        outcomes: list[tuple[int, CommandResult]] = []
        staged: list[tuple[int, Evidence, int | None]] = [
            (ev.rental_id, ev, None) for ev in batch.evidence if ev.rental_id is not None
        ]
        async with self.uow() as uow:
            for result in batch.results:
                cmd = await uow.agent_commands.get(result.command_id)
                if cmd is None or cmd.machine_id != machine_id:
                    ignored.append(result.command_id)
                    continue
                if cmd.kind == "grant" and result.ok and result.access is None:
                    raise ValidationError("A successful grant must carry the access details.")
                answer = result.model_dump(mode="json", exclude={"evidence"})
                if not await uow.agent_commands.complete(stored_id(cmd), answer, now):
                    ignored.append(result.command_id)  # answered before: a replay
                    continue
                accepted.append(stored_id(cmd))
                if cmd.kind in PROBE_KINDS:  # the service's own check: no rental, no evidence
                    if cmd.kind == "probe":
                        await uow.probes.answer(cmd.rental_id, machine_id, answer)
                    continue
                staged += [
                    (ev.rental_id or cmd.rental_id, ev, stored_id(cmd)) for ev in result.evidence
                ]
                if cmd.kind == "grant" and cmd.expires_at >= now:
                    outcomes.append((cmd.rental_id, result))
            stored = 0
            owned: dict[int, bool] = {}
            for rental_id, ev, command_id in staged:
                if rental_id not in owned:
                    rental = await uow.rentals.get(rental_id)
                    owned[rental_id] = rental is not None and rental.machine_id == machine_id
                if owned[rental_id]:
                    uow.evidence.add(_evidence_record(machine_id, rental_id, ev, now, command_id))
                    stored += 1
            await uow.commit()
        for rental_id, result in outcomes:
            await self._tell_lifecycle(rental_id, result)
        return ResultAck(accepted=accepted, ignored=ignored, evidence_stored=stored)

    async def _tell_lifecycle(self, rental_id: int, result: CommandResult) -> None:
        if self.events is None:
            log.warning("no rental lifecycle bound; grant result for %s dropped", rental_id)
            return
        try:
            if result.ok:
                # record_results refused a successful grant without them
                access = present(result.access, f"access details of rental {rental_id}'s grant")
                await self.events.access_granted(rental_id, AccessInfo.of(access))
            else:
                reason = result.error or "the agent could not grant access"
                await self.events.access_failed(rental_id, reason)
        except Exception:
            # the result is stored; the keeper refunds a rental that never becomes active
            log.exception("applying the grant result of rental %s failed", rental_id)

    async def evidence(self, rental_id: int) -> list[EvidenceView]:
        """Everything recorded about a rental, oldest first (for the arbiter)."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.evidence.for_rental(rental_id)
        return [  # a damaged row (stored before evidence was checked) shows without data
            EvidenceView(
                r.rental_id,
                r.machine_id,
                r.kind,
                r.at,
                r.received_at,
                r.data if isinstance(r.data, dict) else {},
            )
            for r in rows
        ]

    async def evidence_for(self, who: Principal, rental_id: int) -> list[EvidenceView]:
        """A rental's evidence for its renter or its provider; NotFound for anyone else."""
        async with self.uow(readonly=True) as uow:
            rental = await uow.rentals.get(rental_id)
            provider = await uow.providers.get(rental.provider_id) if rental else None
        if rental is None or who.user_id not in (rental.renter_id, provider and provider.user_id):
            raise NotFound.keyed("rentals.not_yours_or_none", rental_id=rental_id)
        return await self.evidence(rental_id)

    async def open_state(self) -> tuple[int, set[int]]:
        """(newest command id, machines with unanswered valid commands), read in this order
        so that every open command is in the set or newer than the id."""
        async with self.uow(readonly=True) as uow:
            last_id = await uow.agent_commands.max_id()
        async with self.uow(readonly=True) as uow:
            return last_id, await uow.agent_commands.machines_with_open(self.clock.now())

    async def queued_since(self, last_id: int) -> tuple[int, set[int]]:
        """(newest command id, machines with commands queued after ``last_id``)."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.agent_commands.created_after(last_id)
        if not rows:
            return last_id, set()
        return rows[-1][0], {machine_id for _, machine_id in rows}


def _wire(c: AgentCommandRecord) -> AgentCommand:
    payload = c.payload
    return AgentCommand(
        id=stored_id(c),
        seq=c.seq,
        kind=_kind(c.kind),
        rental_id=c.rental_id,
        public_key=payload.get("public_key"),
        expires_at=payload.get("expires_at"),
        instance=InstanceRequest(**payload["instance"]) if payload.get("instance") else None,
        issued_at=c.created_at,
        valid_until=c.expires_at,
    )


def _kind(text: str) -> CommandKind:
    """A stored command's kind as the wire types it (only this module writes the rows)."""
    for kind in _KINDS:
        if kind == text:
            return kind
    raise ValueError(f"agent command kind {text!r} is not one the agents know")


def command_record(
    machine_id: int,
    kind: CommandKind,
    rental_id: int,
    payload: dict[str, object],
    now: int,
    valid_until: int,
) -> AgentCommandRecord:
    """A command row to append (its seq is assigned by ``uow.agent_commands.append``)."""
    return AgentCommandRecord(
        machine_id=machine_id,
        seq=0,
        kind=kind,
        rental_id=rental_id,
        payload=payload,
        created_at=now,
        expires_at=valid_until,
    )


def _evidence_record(
    machine_id: int, rental_id: int, ev: Evidence, now: int, command_id: int | None
) -> EvidenceRecord:
    return EvidenceRecord(
        machine_id=machine_id,
        rental_id=rental_id,
        kind=ev.kind,
        at=ev.at,
        received_at=now,
        data=dict(ev.data),
        command_id=command_id,
    )
