"""Machines (agents' heartbeats, specs and offers) and their per-minute GPU samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from core.db import tables
from core.db.repo_base import Repo as _Repo
from core.db.repo_base import by_key, rowcount
from core.db.repo_base import insert_or_ignore as _insert_or_ignore
from core.domain.model import MACHINE_SPEC_FIELDS, Machine
from core.repo_ports import BeatState

__all__ = ["BeatState", "GpuSamples", "Machines"]


class Machines(_Repo):
    async def get(self, machine_id: int) -> Machine | None:
        return await by_key(self.s, Machine, machine_id)

    async def by_token_hash(self, token_hash: str) -> Machine | None:
        q = select(Machine).where(tables.machines.c.agent_token_hash == token_hash)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def for_provider(self, provider_id: int) -> Sequence[Machine]:
        """The provider's machines, without the removed ones (kept for rental history)."""
        t = tables.machines.c
        q = select(Machine).where(t.provider_id == provider_id, t.status != "removed")
        return (await self.s.execute(q.order_by(tables.machines.c.id))).scalars().all()

    async def by_name(self, provider_id: int, name: str) -> Machine | None:
        t = tables.machines.c
        q = select(Machine).where(t.provider_id == provider_id, func.lower(t.name) == name.lower())
        return (await self.s.execute(q)).scalar_one_or_none()

    async def silent_since(self, cutoff: int) -> Sequence[Machine]:
        t = tables.machines.c
        q = select(Machine).where(t.status == "online", t.last_heartbeat_at < cutoff)
        return (await self.s.execute(q)).scalars().all()

    async def ids_by_token_hash(self, token_hashes: Sequence[str]) -> dict[str, int]:
        """Machine id of each of ``token_hashes`` that still belongs to a machine."""
        t = tables.machines.c
        q = select(t.agent_token_hash, t.id).where(t.agent_token_hash.in_(list(token_hashes)))
        return {h: i for h, i in (await self.s.execute(q)).all()}

    async def all_ids(self) -> list[int]:
        q = select(tables.machines.c.id).order_by(tables.machines.c.id)
        return list((await self.s.execute(q)).scalars().all())

    async def beat_states(self, token_hashes: Sequence[str]) -> dict[str, BeatState]:
        """What a heartbeat needs to know about each machine, by token hash, rows locked."""
        t = tables.machines.c
        q = select(
            t.agent_token_hash,
            t.id,
            t.status,
            t.inventory_json,
            t.last_heartbeat_at,
            t.covered_seconds,
            t.offer_json,
            t.backend,
            t.share_ram_mib,
            t.default_template,
            t.ssh_host,
            t.ssh_port,
            t.host_key_fingerprint,
        ).where(t.agent_token_hash.in_(list(token_hashes)))
        if self.s.bind.dialect.name == "postgresql":
            q = q.order_by(t.id).with_for_update()  # one lock order: no deadlocks
        rows = (await self.s.execute(q)).all()
        return {row[0]: BeatState(*row[1:]) for row in rows}

    async def apply_beats(self, beats: Sequence[dict[str, Any]]) -> None:
        """Write routine heartbeats (machine online, inventory unchanged) in one executemany.

        Each dict has ``b_id, b_at, b_covered, b_metrics, b_version, b_host, b_port, b_fp``
        and ``b_<field>`` for each of ``MACHINE_SPEC_FIELDS`` (what the agent measured).
        """
        if not beats:
            return
        t = tables.machines.c
        stmt = (
            update(tables.machines)
            .where(t.id == bindparam("b_id"), t.status == "online")
            .values(
                last_heartbeat_at=bindparam("b_at"),
                covered_seconds=bindparam("b_covered"),
                metrics_json=bindparam("b_metrics"),
                agent_version=bindparam("b_version"),
                ssh_host=bindparam("b_host"),
                ssh_port=bindparam("b_port"),
                host_key_fingerprint=bindparam("b_fp"),
                **{f: bindparam(f"b_{f}") for f in MACHINE_SPEC_FIELDS},
            )
        )
        await self.s.execute(stmt, list(beats))

    async def set_token_hash(self, machine_id: int, token_hash: str) -> None:
        stmt = (
            update(tables.machines)
            .where(tables.machines.c.id == machine_id)
            .values(agent_token_hash=token_hash)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)


class GpuSamples(_Repo):
    """Per-minute GPU samples of each machine (``gpus_json``: [[util %, temp °C], ...], a list
    in and out: the column's type stores it as JSON)."""

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``{"machine_id", "minute", "gpus_json"}`` rows; a minute already sampled
        keeps its first sample."""
        if rows:
            stmt = _insert_or_ignore(
                self.s.bind.dialect.name, tables.gpu_samples, ("machine_id", "minute")
            )
            await self.s.execute(stmt, list(rows))

    async def since(self, machine_id: int, minute: int) -> list[tuple[int, list[list[int]]]]:
        t = tables.gpu_samples.c
        q = (
            select(t.minute, t.gpus_json)
            .where(t.machine_id == machine_id, t.minute >= minute)
            .order_by(t.minute)
        )
        return [(m, j) for m, j in (await self.s.execute(q)).all()]

    async def prune(self, before_minute: int) -> int:
        t = tables.gpu_samples.c
        stmt = delete(tables.gpu_samples).where(t.minute < before_minute)
        return rowcount(await self.s.execute(stmt)) or 0
