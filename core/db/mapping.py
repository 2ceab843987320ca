"""Imperative mapping of the domain dataclasses onto the tables (done once, on demand)."""

from __future__ import annotations

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


def start_mappers() -> None:
    """Map the entities; idempotent, so the composition root and tests may both call it."""
    global _mapped
    if _mapped:
        return
    for entity, table in ENTITIES:
        mapper_registry.map_imperatively(entity, table)
    _mapped = True
