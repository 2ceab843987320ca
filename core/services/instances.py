"""A rental's instance: what it runs is decided when it is quoted (image or template, ports,
the rented share of the machine as limits) and stored with it (``Rental.instance``); the
GPUs are added when the quote is confirmed. The grants are built from that record, so the
first grant and every extension carry the same instance.
"""

from __future__ import annotations

from dataclasses import asdict

from core.domain.instances import (
    AskRecord,
    ImageRef,
    InstanceAsk,
    InstanceRecord,
    parse_image,
    share_limits,
)
from core.domain.listings import ListingQuery
from core.domain.model import Machine, MachineTemplate, Rental
from core.services.base import present
from core.services.machine_specs import machine_shape
from core.services.views import InstanceView
from core.wire import InstanceLimits, InstanceRequest


def plan(
    machine: Machine, template: MachineTemplate | None, ask: InstanceAsk, gpus: int
) -> InstanceRecord | None:
    """The instance record of a rental of ``gpus`` GPUs on ``machine`` (None for a machine
    whose agent offers no instances). ``template`` is the one chosen (None: ask.image)."""
    if machine.backend is None:
        return None
    shape = machine_shape(machine)
    assert shape is not None, "the search offers container machines with complete specs only"
    if template is not None:
        image = template.image
    else:
        # no template chosen: the quote matched the renter's own image
        image = present(ask.image, "the image of an instance quoted without a template").reference
    record: InstanceRecord = {
        "image": image,
        "template": template.name if template is not None else None,
        "jupyter": bool(template and template.jupyter),
        "ports": list(ask.ports),
        "limits": asdict(share_limits(shape, gpus)),
        "ask": _ask_record(ask),
        "simulated": machine.backend == "simulated",
    }
    return record


def _ask_record(ask: InstanceAsk) -> AskRecord:
    return {
        "template": ask.template,
        "image": ask.image.reference if ask.image else None,
        "ports": list(ask.ports),
        "disk_gb": ask.disk_gb,
    }


def _record(rental: Rental) -> InstanceRecord | None:
    # written by plan() above, so its fields are there
    return rental.instance


def gpu_uuids(rental: Rental) -> list[str]:
    return list(rental.gpu_uuids)


def request_of(rental: Rental) -> InstanceRequest | None:
    """What the rental's grants run (None for a machine without instances)."""
    record = _record(rental)
    if record is None:
        return None
    return InstanceRequest(
        image=record["image"],
        template=record["template"],
        gpu_uuids=gpu_uuids(rental),
        ports=record["ports"],
        limits=InstanceLimits(**record["limits"]),
        jupyter=record["jupyter"],
    )


def ask_of(rental: Rental) -> InstanceAsk:
    """What the renter asked for, to quote the same again (Cheaper, just taken)."""
    record = _record(rental)
    if record is None:
        return InstanceAsk()
    ask = record.get("ask")
    if ask is None:  # quoted before the ask was recorded
        return InstanceAsk()
    reference = ask.get("image")
    image: ImageRef | None = parse_image(reference) if reference else None
    return InstanceAsk(
        ask.get("template"), image, tuple(ask.get("ports") or ()), ask.get("disk_gb")
    )


def query_of(rental: Rental, *, max_price_per_hour: int | None = None) -> ListingQuery:
    """The search that finds what ``rental`` rents, on any listing (below a price cap when
    given)."""
    return ListingQuery(
        model=rental.gpu_model,
        gpu_count=rental.gpu_count,
        instance=ask_of(rental),
        max_price_per_hour=max_price_per_hour,
    )


def view_of(rental: Rental) -> InstanceView | None:
    record = _record(rental)
    if record is None:
        return None
    limits = record["limits"]
    return InstanceView(
        image=record["image"],
        template=record["template"],
        jupyter=record["jupyter"],
        ports=tuple(record["ports"]),
        cpu_millis=limits["cpu_millis"],
        memory_mib=limits["memory_mib"],
        disk_gib=limits["disk_gib"],
        simulated=bool(record.get("simulated")),
    )
