"""The tables of what provider agents are told and report: commands, the service's probes,
evidence and GPU samples. Part of ``core.db.tables`` (which re-exports them)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, UniqueConstraint

from core.db.json_text import JsonText
from core.db.schema import Time, metadata
from core.domain.limits import MAX_EVIDENCE_KIND

# grant/revoke commands for provider agents; seq grows by one per machine
agent_commands = Table(
    "agent_commands",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("rental_id", Integer, nullable=False, index=True),
    Column("payload_json", JsonText(), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),  # not run by then: stale
    Column("delivered_at", Time),
    Column(
        "result_json", JsonText(sort_keys=False, ascii=False)
    ),  # as the agent's result lists its fields
    Column("done_at", Time),
    UniqueConstraint("machine_id", "seq"),
)

# the service's own probes of machines (core.domain.verification)
machine_probes = Table(
    "machine_probes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column(
        "gpu_uuids_json", JsonText(sort_keys=False, compact=False, damaged="[]"), nullable=False
    ),
    Column("created_at", Time, nullable=False),
    Column("answer_json", JsonText(sort_keys=False, ascii=False)),
    Column("finished_at", Time),
    Column("reason", String(320)),
    Column("seen_fingerprint", String(128)),
    Column("ended", Boolean, nullable=False),
)

# dispute evidence the agents and the service collect (self-tests, heartbeat gaps, sshd logs)
agent_evidence = Table(
    "agent_evidence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, nullable=False),
    Column("rental_id", Integer, nullable=False, index=True),
    Column("kind", String(MAX_EVIDENCE_KIND), nullable=False),
    Column("at", Time, nullable=False),
    Column("received_at", Time, nullable=False),
    Column("command_id", Integer),
    Column("data_json", JsonText(), nullable=False),  # a damaged row reads as None
)

# one GPU sample per machine and minute (utilisation, temperature), kept a few hours for the
# /status chart; written by at most one heartbeat per minute
gpu_samples = Table(
    "gpu_samples",
    metadata,
    Column("machine_id", Integer, primary_key=True),
    Column("minute", Time, primary_key=True, index=True),
    Column("gpus_json", JsonText(sort_keys=False, damaged="[]"), nullable=False),
)
