"""What a heartbeat says about the machine around its GPUs: specs, the instance offer and the
GPU inventory, checked at the edge and turned into what the service stores.

``core.wire`` bounds every field by its column; this module adds what the wire cannot say
alone: GPU UUIDs that can be named in an instance request, one entry
per GPU and per template, template images that parse, a default template that exists. A beat
that breaks one of these is refused (the agent API answers 422) and only that agent's.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, SupportsInt

from core.domain.instances import (
    InstanceError,
    MachineShape,
    cuda_number,
    parse_image,
    share_limits,
)
from core.domain.limits import MAX_GPU_UUID
from core.domain.model import MACHINE_SPEC_FIELDS, Machine
from core.errors import ValidationError
from core.wire import Heartbeat

_GPU_UUID = re.compile(rf"^[A-Za-z0-9_.:-]{{1,{MAX_GPU_UUID}}}$")


def check_heartbeat(hb: Heartbeat) -> None:
    """Raise ValidationError (nothing is stored) for a beat the service cannot store (the
    wire bounds every text by its column already: ``core.domain.limits``)."""
    uuids = [g.uuid for g in hb.gpus]
    bad = next((u for u in uuids if not _GPU_UUID.match(u)), None)
    if bad is not None:
        raise ValidationError(
            f"gpus: UUID {bad[:100]!r} is not 1 to {MAX_GPU_UUID} of A-Z a-z 0-9 _ . : -"
        )
    if len(set(uuids)) != len(uuids) or len({g.index for g in hb.gpus}) != len(hb.gpus):
        raise ValidationError("gpus: each GPU once (a UUID or index is reported twice)")
    if hb.offer is not None:
        names = [t.name for t in hb.offer.templates]
        if len(set(names)) != len(names):
            raise ValidationError("offer.templates: each template name once")
        for t in hb.offer.templates:
            try:
                parse_image(t.image)
            except InstanceError as exc:
                raise ValidationError(f"offer.templates.{t.name}.image: {exc}") from exc
        if hb.offer.default_template is not None and hb.offer.default_template not in names:
            raise ValidationError("offer.default_template: not one of offer.templates")


def present_gpus(hb: Heartbeat) -> int:
    return sum(1 for g in hb.gpus if not g.lost)


def spec_values(hb: Heartbeat) -> dict[str, object]:
    """Each of ``MACHINE_SPEC_FIELDS`` from the beat, with the share one GPU gets (None
    without complete specs: such a container machine is not offered)."""
    m = hb.machine
    values: dict[str, object] = {
        "cpu_model": m.cpu_model if m else None,
        "cpu_cores": m.cpu_cores if m else None,
        "ram_mib": m.ram_mib if m else None,
        "disk_free_gib": m.disk_free_gib if m else None,
        "net_down_mbps": m.net_down_mbps if m else None,
        "net_up_mbps": m.net_up_mbps if m else None,
        "driver_version": hb.driver_version,
        "cuda_version": hb.cuda_version,
        "cuda_number": cuda_number(hb.cuda_version),
        "gpu_total": present_gpus(hb),
        "share_cpu_millis": None,
        "share_ram_mib": None,
        "share_disk_gib": None,
    }
    shape = machine_shape(values)
    if shape is not None:
        one = share_limits(shape, 1)
        values |= {
            "share_cpu_millis": one.cpu_millis,
            "share_ram_mib": one.memory_mib,
            "share_disk_gib": one.disk_gib,
        }
    assert set(values) == set(MACHINE_SPEC_FIELDS)
    return values


def machine_shape(values: dict[str, object] | Machine) -> MachineShape | None:
    """The machine as ``share_limits`` needs it; None while a figure is missing."""
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k)
    gpus, cores, ram, disk = (
        get(k) for k in ("gpu_total", "cpu_cores", "ram_mib", "disk_free_gib")
    )
    if not gpus or cores is None or ram is None or disk is None:
        return None
    return MachineShape(_figure(gpus), _figure(cores), _figure(ram), _figure(disk))


def _figure(value: object) -> int:
    """A machine figure as a number (the specs dict holds what ``int()`` reads)."""
    if isinstance(value, str | SupportsInt):
        return int(value)
    raise TypeError(f"a machine figure must be a number, not {value!r}")


class ReadyFields(Protocol):
    """What ``machine_ready`` reads: a Machine, or the BeatState the heartbeat batch reads."""

    @property
    def backend(self) -> str | None: ...
    @property
    def share_ram_mib(self) -> int | None: ...
    @property
    def default_template(self) -> str | None: ...


def machine_ready(machine: ReadyFields) -> bool:
    """Whether the machine runs a rental without options: an instance host (container or
    simulated) with complete specs (for the limits) and a default template. An agent that
    offers no instances is never rented out: a rental is always an instance. Its listings
    carry this as ``ready`` so that a plain search needs no join."""
    if machine.backend is None:
        return False
    return machine.share_ram_mib is not None and machine.default_template is not None


def beat_ready(hb: Heartbeat) -> bool:
    """``machine_ready`` of the machine as this beat describes it."""
    if hb.offer is None:
        return False
    names = [t.name for t in hb.offer.templates]
    default = hb.offer.default_template or (names[0] if names else None)
    return spec_values(hb)["share_ram_mib"] is not None and default is not None


def offer_of(hb: Heartbeat) -> dict[str, Any] | None:
    """The offer as the machine row keeps it (JSON values: compares equal to the stored one)."""
    return None if hb.offer is None else hb.offer.model_dump(mode="json")


def inventory_of(hb: Heartbeat) -> list[dict[str, Any]]:
    """What decides the machine's GPUs and listings: a change re-syncs them (JSON values, so
    that it compares equal to the inventory stored)."""
    fields = {"index", "name", "uuid", "vram_total_mib", "lost", "pcie_gen", "pcie_width"}
    return [g.model_dump(mode="json", include=fields) for g in hb.gpus]


def apply_offer(machine: Machine, hb: Heartbeat) -> None:
    """Store the instance offer on the machine row (templates go to their own table)."""
    offer = hb.offer
    machine.offer = offer_of(hb)
    if offer is None:
        machine.backend, machine.default_template = None, None
        machine.custom_images, machine.registries, machine.max_ports = False, "", 0
        return
    names = [t.name for t in offer.templates]
    machine.backend = offer.backend
    machine.default_template = offer.default_template or (names[0] if names else None)
    machine.custom_images = offer.custom_images
    registries = sorted({r.strip().lower() for r in offer.allowed_registries})
    machine.registries = f" {' '.join(registries)} " if registries else ""
    machine.max_ports = offer.max_ports
