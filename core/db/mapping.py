"""Imperative mapping of the domain dataclasses onto the tables (done once, on demand)."""

from __future__ import annotations

from sqlalchemy.orm import registry

from core.db import tables
from core.domain import model
from core.domain.signatures import PendingSignature

mapper_registry = registry(metadata=tables.metadata)
_mapped = False


def start_mappers() -> None:
    """Map the entities; idempotent, so the composition root and tests may both call it."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(model.User, tables.users)
    mapper_registry.map_imperatively(model.Provider, tables.providers)
    mapper_registry.map_imperatively(model.Machine, tables.machines)
    mapper_registry.map_imperatively(model.MachineGpu, tables.machine_gpus)
    mapper_registry.map_imperatively(model.MachineTemplate, tables.machine_templates)
    mapper_registry.map_imperatively(model.Listing, tables.listings)
    mapper_registry.map_imperatively(model.Rental, tables.rentals)
    mapper_registry.map_imperatively(model.OutboxMessage, tables.outbox)
    mapper_registry.map_imperatively(model.ChainEventRecord, tables.chain_events)
    mapper_registry.map_imperatively(PendingSignature, tables.pending_signatures)
    mapper_registry.map_imperatively(model.Setting, tables.settings_kv)
    mapper_registry.map_imperatively(model.AgentCommandRecord, tables.agent_commands)
    mapper_registry.map_imperatively(model.EvidenceRecord, tables.agent_evidence)
    mapper_registry.map_imperatively(model.MachineProbe, tables.machine_probes)
    mapper_registry.map_imperatively(model.WalletSession, tables.wallet_sessions)
    mapper_registry.map_imperatively(model.HeldPayout, tables.held_payouts)
    _mapped = True
