"""Imperative mapping of the domain dataclasses onto the tables (done once, on demand)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import registry

from core.db import tables
from core.domain import model
from core.domain.signatures import PendingSignature

mapper_registry = registry(metadata=tables.metadata)
_mapped = False


ENTITIES: tuple[tuple[type, Table], ...] = (  # each entity and the table it is stored in
    (model.User, tables.users),
    (model.Provider, tables.providers),
    (model.Machine, tables.machines),
    (model.MachineGpu, tables.machine_gpus),
    (model.MachineTemplate, tables.machine_templates),
    (model.Listing, tables.listings),
    (model.Rental, tables.rentals),
    (model.OutboxMessage, tables.outbox),
    (model.ChainEventRecord, tables.chain_events),
    (PendingSignature, tables.pending_signatures),
    (model.Setting, tables.settings_kv),
    (model.AgentCommandRecord, tables.agent_commands),
    (model.EvidenceRecord, tables.agent_evidence),
    (model.MachineProbe, tables.machine_probes),
    (model.WalletSession, tables.wallet_sessions),
    (model.HeldPayout, tables.held_payouts),
)


def _renamed(table: Table, **columns: str) -> dict[str, Any]:
    """Attributes named apart from their columns: a JSON column ``x_json`` (core/db/json_text.py
    reads and writes it) is the entity's value ``x``, the column name kept so no row moves."""
    return {attribute: table.c[column] for attribute, column in columns.items()}


# per entity, the attributes whose name is not their column's
PROPERTIES: dict[type, dict[str, Any]] = {
    model.Machine: _renamed(
        tables.machines,
        inventory="inventory_json",
        metrics="metrics_json",
        offer="offer_json",
        verified="verified_json",
    ),
    model.Rental: _renamed(
        tables.rentals,
        gpu_uuids="gpu_uuids_json",
        instance="instance_json",
        access_ports="access_ports_json",
    ),
    model.AgentCommandRecord: _renamed(
        tables.agent_commands, payload="payload_json", result="result_json"
    ),
    model.MachineProbe: _renamed(
        tables.machine_probes, gpu_uuids="gpu_uuids_json", answer="answer_json"
    ),
    model.EvidenceRecord: _renamed(tables.agent_evidence, data="data_json"),
    model.OutboxMessage: _renamed(tables.outbox, payload="payload_json"),
    model.ChainEventRecord: _renamed(tables.chain_events, args="args_json"),
    PendingSignature: _renamed(tables.pending_signatures, payload="payload_json"),
    model.WalletSession: _renamed(tables.wallet_sessions, pending="pending_json"),
}


def row_values(entity: object, table: Table) -> dict[str, Any]:
    """``entity``'s values by column name, for a Core insert (the id left to the database)."""
    attribute = {column.key: name for name, column in PROPERTIES.get(type(entity), {}).items()}
    return {
        c.name: getattr(entity, attribute.get(c.name, c.name))
        for c in table.columns
        if c.name != "id"
    }


def start_mappers() -> None:
    """Map the entities; idempotent, so the composition root and tests may both call it."""
    global _mapped
    if _mapped:
        return
    for entity, table in ENTITIES:
        mapper_registry.map_imperatively(entity, table, properties=PROPERTIES.get(entity))
    _mapped = True
