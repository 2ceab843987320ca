"""Every field an agent sends fits where the service keeps it.

Walks the wire models an agent posts (``Heartbeat``, ``ResultBatch`` and the evidence data
of each kind) down to their strings and integers, and the table columns they are written to.
A wire limit wider than its column would pass validation and then fail the INSERT on
PostgreSQL (which enforces VARCHAR lengths and INTEGER ranges, unlike SQLite), inside a
transaction other agents' writes share. A field this test does not know fails it too: say
where a new field goes.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo
from sqlalchemy import BigInteger, Column, Integer, String

from core.db import tables as t
from core.domain.limits import INT32_MAX, INT64_MAX
from core.wire import EVIDENCE_DATA, Heartbeat, MachineSpecs, ResultBatch

# wire field -> the column it is written to
COLUMNS: dict[str, Column] = {
    "Heartbeat.agent_version": t.machines.c.agent_version,
    "Heartbeat.driver_version": t.machines.c.driver_version,
    "Heartbeat.cuda_version": t.machines.c.cuda_version,
    "Heartbeat.ssh_host": t.machines.c.ssh_host,
    "Heartbeat.ssh_port": t.machines.c.ssh_port,
    "Heartbeat.host_key_fingerprint": t.machines.c.host_key_fingerprint,
    "GpuInfo.index": t.machine_gpus.c.idx,
    "GpuInfo.uuid": t.machine_gpus.c.uuid,
    "GpuInfo.name": t.machine_gpus.c.name,
    "GpuInfo.vram_total_mib": t.machine_gpus.c.vram_mib,
    "GpuInfo.pcie_gen": t.machine_gpus.c.pcie_gen,
    "GpuInfo.pcie_width": t.machine_gpus.c.pcie_width,
    "MachineSpecs.cpu_model": t.machines.c.cpu_model,
    "MachineSpecs.cpu_cores": t.machines.c.cpu_cores,
    "MachineSpecs.ram_mib": t.machines.c.ram_mib,
    "MachineSpecs.disk_free_gib": t.machines.c.disk_free_gib,
    "MachineSpecs.net_down_mbps": t.machines.c.net_down_mbps,
    "MachineSpecs.net_up_mbps": t.machines.c.net_up_mbps,
    "InstanceOffer.backend": t.machines.c.backend,
    "InstanceOffer.default_template": t.machines.c.default_template,
    "InstanceOffer.max_ports": t.machines.c.max_ports,
    "TemplateInfo.name": t.machine_templates.c.name,
    "TemplateInfo.image": t.machine_templates.c.image,
    "TemplateInfo.title": t.machine_templates.c.title,
    "CommandResult.command_id": t.agent_commands.c.id,
    "AccessDetails.username": t.rentals.c.access_username,
    "AccessDetails.host": t.rentals.c.access_host,
    "AccessDetails.port": t.rentals.c.access_port,
    "AccessDetails.host_key_fingerprint": t.rentals.c.host_key_fingerprint,
    "AccessDetails.jupyter_port": t.rentals.c.jupyter_port,
    "AccessDetails.jupyter_token": t.rentals.c.jupyter_token,
    "Evidence.kind": t.agent_evidence.c.kind,
    "Evidence.at": t.agent_evidence.c.at,
    "Evidence.rental_id": t.agent_evidence.c.rental_id,
}

# wire fields kept only inside a JSON text column (metrics, offer, results, evidence data):
# any length fits, but each must still be bounded (and an int must fit 64 bits)
IN_JSON_TEXT = {
    "Heartbeat.seq",
    "Heartbeat.sent_at",
    "Heartbeat.queued_s",
    "GpuInfo.vram_used_mib",
    "GpuInfo.utilization_pct",
    "GpuInfo.temperature_c",
    "GpuInfo.power_w",
    "GpuInfo.ecc_errors",
    "GpuInfo.process_count",
    "InstanceOffer.allowed_registries",
    "CommandResult.error",
    "AccessDetails.gpu_uuids",
    "AccessDetails.image",
    "PortMapping.container_port",
    "PortMapping.host_port",
    "Evidence.data",
    *(f"{m.__name__}.{f}" for m in EVIDENCE_DATA.values() for f in m.model_fields),
}

INT_RANGE = {Integer: (-INT32_MAX - 1, INT32_MAX), BigInteger: (-INT64_MAX - 1, INT64_MAX)}


class Leaf(typing.NamedTuple):
    path: str
    kind: str  # str | int | float | bool
    low: float
    high: float  # the longest string, the largest int


def _pattern_width(pattern: str) -> float:
    width = re._parser.parse(pattern).getwidth()[1]  # type: ignore[attr-defined]
    return math.inf if width >= 2**31 - 1 else width


def _bounds(metadata: list) -> tuple[float, float, float]:
    """(low, high, longest) from annotated-types and pydantic constraint objects."""
    low, high, longest = -math.inf, math.inf, math.inf
    for m in metadata:
        if isinstance(m, FieldInfo):
            m_low, m_high, m_long = _bounds(m.metadata)
            low, high, longest = max(low, m_low), min(high, m_high), min(longest, m_long)
        elif isinstance(m, at.Ge):
            low = max(low, m.ge)
        elif isinstance(m, at.Gt):
            low = max(low, m.gt + 1)
        elif isinstance(m, at.Le):
            high = min(high, m.le)
        elif isinstance(m, at.Lt):
            high = min(high, m.lt - 1)
        elif isinstance(m, at.MaxLen):
            longest = min(longest, m.max_length)
        elif isinstance(m, StringConstraints):
            if m.max_length is not None:
                longest = min(longest, m.max_length)
            if m.pattern is not None:
                longest = min(longest, _pattern_width(str(m.pattern)))
    return low, high, longest


def _leaves(path: str, annotation: object, metadata: list) -> Iterator[Leaf]:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *more = get_args(annotation)
        yield from _leaves(path, inner, [*metadata, *more])
    elif origin in (typing.Union, types.UnionType):
        for arm in get_args(annotation):
            if arm is not type(None):
                yield from _leaves(path, arm, metadata)
    elif origin is list:
        yield from _leaves(path, get_args(annotation)[0], [])
    elif origin is dict:
        key, value = get_args(annotation)
        yield from _leaves(path, key, [])
        yield from _leaves(path, value, [])
    elif origin is Literal:
        longest = max(len(str(v)) for v in get_args(annotation))
        yield Leaf(path, "str", 0, longest)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _model_leaves(annotation)
    elif annotation in (str, int, float, bool):
        low, high, longest = _bounds(metadata)
        if annotation is str:
            yield Leaf(path, "str", 0, longest)
        else:
            yield Leaf(path, annotation.__name__, low, high)
    else:
        raise AssertionError(f"{path}: cannot check {annotation!r}")


def _model_leaves(model: type[BaseModel]) -> Iterator[Leaf]:
    for name, info in model.model_fields.items():
        yield from _leaves(f"{model.__name__}.{name}", info.annotation, info.metadata)


def _agent_sent() -> list[Leaf]:
    leaves = [*_model_leaves(Heartbeat), *_model_leaves(ResultBatch)]
    for model in EVIDENCE_DATA.values():
        leaves += _model_leaves(model)
    return leaves


def test_every_field_an_agent_sends_fits_its_column():
    leaves = [leaf for leaf in _agent_sent() if leaf.kind != "bool"]
    unknown = sorted({x.path for x in leaves} - set(COLUMNS) - IN_JSON_TEXT)
    assert not unknown, f"say where these fields are stored: {unknown}"
    too_wide = []
    for leaf in leaves:
        column = COLUMNS.get(leaf.path)
        if column is None:  # inside JSON text: bounded, and an int fits 64 bits
            if leaf.kind == "str" and leaf.high == math.inf:
                too_wide.append(f"{leaf.path}: unbounded text")
            if leaf.kind == "int" and not -INT64_MAX - 1 <= leaf.low <= leaf.high <= INT64_MAX:
                too_wide.append(f"{leaf.path}: {leaf.low}..{leaf.high} is not a 64-bit int")
        elif leaf.kind == "str":
            assert isinstance(column.type, String), leaf.path
            length = column.type.length or math.inf  # Text: any length
            if leaf.high > length:
                too_wide.append(
                    f"{leaf.path}: up to {leaf.high} characters, {column} holds {length}"
                )
        elif leaf.kind == "int":
            low, high = INT_RANGE[type(column.type)]
            if not low <= leaf.low <= leaf.high <= high:
                too_wide.append(
                    f"{leaf.path}: {leaf.low}..{leaf.high}, {column} holds {low}..{high}"
                )
        else:
            too_wide.append(f"{leaf.path}: a {leaf.kind} in column {column}")
    assert not too_wide, "\n".join(too_wide)


def test_the_walk_sees_the_limits_it_checks():
    """The walker reads the limits (a walker that saw none would pass anything)."""
    by_path: dict[str, list[Leaf]] = {}
    for leaf in _agent_sent():
        by_path.setdefault(leaf.path, []).append(leaf)
    assert by_path["Heartbeat.agent_version"] == [Leaf("Heartbeat.agent_version", "str", 0, 32)]
    assert by_path["CommandResult.command_id"][0].high == INT32_MAX
    assert by_path["Heartbeat.host_key_fingerprint"][0].high == len("SHA256:") + 64
    assert by_path["Evidence.kind"][0].high == len("heartbeat_gap")
    assert {x.kind for x in by_path["Evidence.data"]} == {"str", "int", "float", "bool"}


def test_what_an_agent_measures_always_passes_its_own_wire():
    """The agent cuts and cleans what NVML and /proc report to the same limits, so an odd
    driver never makes its own heartbeat invalid (it would stop beating altogether)."""
    from provider_agent.heartbeats import build_heartbeat
    from provider_agent.host_specs import cpu_model
    from provider_agent.nvml_probe import GpuReading

    odd = "NVIDIA\x00 GeForce\u202e RTX\n4090 " * 20
    reading = GpuReading(0, "GPU-" + "f" * 200, odd, driver_version=odd, cuda_version=odd)
    hb = build_heartbeat([reading], seq=1, sent_at=1, version=odd, endpoint=None)
    again = Heartbeat.model_validate(hb.model_dump())
    assert len(again.agent_version) == 32 and "\x00" not in again.gpus[0].name
    specs = MachineSpecs(cpu_model=cpu_model(f"model name\t: {odd}"))
    assert MachineSpecs.model_validate(specs.model_dump()).cpu_model.startswith("NVIDIA GeForce")
