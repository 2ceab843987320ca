"""What /status shows of a rental: cost so far, prepaid time left, exactly its GPUs (their
metrics and the last hour's samples of them) and the instance it runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.domain.billing import billed as billed_for
from core.domain.model import Rental, stored_id
from core.services.base import UnitOfWork, gpu_name
from core.services.instances import gpu_uuids, view_of
from core.services.views import RentalView

HISTORY_S = 3600  # /status charts the last hour of the rented GPUs' samples


async def status_view(uow: UnitOfWork, rental: Rental, now: int) -> RentalView:
    """The rental as /status shows it, with the metrics and samples of its GPUs only."""
    machine = await uow.machines.get(rental.machine_id)
    metrics, positions = _rented_metrics(_metrics(machine), gpu_uuids(rental))
    view = rental_view(rental, machine.name if machine else "", metrics, now)
    if rental.started_at is None:
        return view
    end = rental.ended_at or now
    since = max(rental.started_at, end - HISTORY_S) // 60 * 60
    rows = await uow.gpu_samples.since(rental.machine_id, since)
    history = tuple((m, _only(sample, positions)) for m, sample in rows if m <= end)
    return replace(view, history=history)


def rental_view(r: Rental, machine_name: str, metrics: dict[str, Any], now: int) -> RentalView:
    cost = 0
    remaining = None
    if r.started_at is not None:
        cost = billed_for(r.billable_seconds(now), r.price_per_hour)
        if r.ended_at is None and r.paid_until is not None:
            remaining = max(0, r.paid_until - now)
    return RentalView(
        rental_id=stored_id(r),
        state=r.state,
        gpu_name=gpu_name(r.gpu_model),
        gpu_count=r.gpu_count,
        price_per_hour=r.price_per_hour,
        deposit=r.deposit,
        created_at=r.created_at,
        started_at=r.started_at,
        paid_until=r.paid_until,
        ended_at=r.ended_at,
        now=now,
        cost_so_far=cost,
        remaining_s=remaining,
        machine_name=machine_name,
        metrics=metrics,
        gpu_uuids=tuple(gpu_uuids(r)),
        instance=view_of(r),
    )


def _rented_metrics(
    metrics: dict[str, Any], uuids: list[str]
) -> tuple[dict[str, Any], list[int] | None]:
    """The machine's GPU metrics of the rented GPUs only, and their positions in the
    agent's list (the per-minute samples are in the same order); all of them when the
    rental holds no GPU by UUID (a machine from before GPU holds)."""
    gpus = metrics.get("gpus") or []
    if not uuids:
        return metrics, None
    wanted = set(uuids)
    positions = [i for i, g in enumerate(gpus) if isinstance(g, dict) and g.get("id") in wanted]
    return {**metrics, "gpus": [gpus[i] for i in positions]}, positions


def _only(sample: list[list[int]], positions: list[int] | None) -> tuple[tuple[int, ...], ...]:
    rows = sample if positions is None else [sample[i] for i in positions if i < len(sample)]
    return tuple(map(tuple, rows))


def _metrics(machine: object) -> dict[str, Any]:
    value = getattr(machine, "metrics", None)  # a damaged row reads as {} (core/db/json_text)
    return value if isinstance(value, dict) else {}
