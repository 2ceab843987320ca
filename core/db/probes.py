"""The service's probes of machines (``core.domain.verification``) and the machines due one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from core.db import tables
from core.db.repo_base import Repo, rowcount
from core.domain.model import Machine, MachineProbe
from core.domain.verification import OPEN_STATUSES, ProbeStatus

P, M = tables.machine_probes.c, tables.machines.c


class MachineProbes(Repo):
    async def get(self, probe_id: int) -> MachineProbe | None:
        return await self.s.get(MachineProbe, probe_id)

    async def open_for(self, machine_id: int) -> MachineProbe | None:
        """The machine's probe in flight (queued or answered), if any."""
        q = select(MachineProbe).where(P.machine_id == machine_id, P.status.in_(OPEN_STATUSES))
        return (await self.s.execute(q.order_by(P.id).limit(1))).scalar_one_or_none()

    async def in_status(self, status: str, limit: int = 100) -> Sequence[MachineProbe]:
        q = select(MachineProbe).where(P.status == status).order_by(P.id).limit(limit)
        return (await self.s.execute(q)).scalars().all()

    async def unended(self, limit: int = 100) -> Sequence[MachineProbe]:
        """Finished probes whose instance was not sent away yet (``unprobe``)."""
        finished = (
            ProbeStatus.PASSED,
            ProbeStatus.FAILED,
            ProbeStatus.YIELDED,
            ProbeStatus.UNCHECKED,
        )
        q = select(MachineProbe).where(P.status.in_(finished), P.ended.is_(False))
        return (await self.s.execute(q.order_by(P.id).limit(limit))).scalars().all()

    async def last_finished(self, machine_id: int) -> MachineProbe | None:
        q = (
            select(MachineProbe)
            .where(P.machine_id == machine_id, P.finished_at.is_not(None))
            .order_by(P.finished_at.desc(), P.id.desc())
            .limit(1)
        )
        return (await self.s.execute(q)).scalar_one_or_none()

    async def verdicts(self, machine_id: int, since: int, until: int) -> list[tuple[int, bool]]:
        """``(finished_at, passed)`` of the machine's decided probes in ``[since, until]``
        (a probe that yielded to a rental decided nothing; one that could not see the GPUs
        backs nothing)."""
        q = (
            select(P.finished_at, P.status)
            .where(
                P.machine_id == machine_id,
                P.status.in_((ProbeStatus.PASSED, ProbeStatus.FAILED, ProbeStatus.UNCHECKED)),
                P.finished_at >= since,
                P.finished_at <= until,
            )
            .order_by(P.finished_at, P.id)
        )
        rows = (await self.s.execute(q)).all()
        return [(at, status == ProbeStatus.PASSED) for at, status in rows]

    async def answer(self, probe_id: int, machine_id: int, answer: dict[str, Any]) -> bool:
        """Store the agent's answer to a queued probe of its machine; True the first time."""
        stmt = (
            update(tables.machine_probes)
            .where(
                P.id == probe_id,
                P.machine_id == machine_id,
                P.status == ProbeStatus.PENDING,
            )
            .values(status=ProbeStatus.ANSWERED, answer_json=answer)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.s.execute(stmt)) == 1

    async def candidates(self, backend: str) -> Sequence[Machine]:
        """Machines of ``backend`` that are online, or failing with a probe asked for."""
        q = select(Machine).where(
            M.backend == backend,
            M.ssh_host.is_not(None),
            (M.status == "online") | ((M.status == "failing") & M.probe_requested_at.is_not(None)),
        )
        return (await self.s.execute(q.order_by(M.id))).scalars().all()

    async def expired_verifications(self, now: int) -> Sequence[Machine]:
        q = select(Machine).where(M.verified_until.is_not(None), M.verified_until <= now)
        return (await self.s.execute(q)).scalars().all()
