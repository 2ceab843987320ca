"""Table definitions (SQLAlchemy Core). Alembic migrations are checked against these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.db.json_text import JsonText, VerificationText
from core.db.schema import Money, Time, metadata
from core.db.tables_agents import agent_commands, agent_evidence, gpu_samples, machine_probes

# what agents report is sized by the limits the agent API checks (core/wire.py uses the same)
from core.domain.limits import (
    MAX_AGENT_VERSION,
    MAX_CPU_MODEL,
    MAX_CUDA_VERSION,
    MAX_DRIVER_VERSION,
    MAX_FINGERPRINT,
    MAX_GPU_NAME,
    MAX_GPU_UUID,
    MAX_HOST,
    MAX_IMAGE_REF,
    MAX_JUPYTER_TOKEN,
    MAX_REQUEST_KEY,
    MAX_TEMPLATE_NAME,
    MAX_TEMPLATE_TITLE,
    MAX_USERNAME,
)

__all__ = [
    "Money", "Time", "agent_commands", "agent_evidence", "gpu_samples", "machine_probes",
    "metadata",
]  # fmt: skip

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("wallet_address", String(42)),
    Column("ssh_public_key", Text),
    Column("chat_id", String(64)),
    UniqueConstraint("platform", "external_id"),
)

providers = Table(
    "providers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False, unique=True),
    Column("payout_address", String(42), nullable=False),
    Column("registered_at", Time, nullable=False),
)

machines = Table(
    "machines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider_id", Integer, nullable=False, index=True),
    Column("name", String(32), nullable=False),
    Column("region", String(20), nullable=False),
    Column("agent_token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Time, nullable=False),
    Column("status", String(16), nullable=False),
    Column("first_seen_at", Time),
    Column("last_heartbeat_at", Time),
    Column("covered_seconds", BigInteger, nullable=False),
    Column("ssh_host", String(MAX_HOST)),
    Column("ssh_port", Integer),
    Column("host_key_fingerprint", String(MAX_FINGERPRINT)),
    # the GPUs as reported (core.services.machine_specs.inventory_of) and their last metrics
    Column("inventory_json", JsonText(compact=False, damaged="[]"), nullable=False),
    Column("metrics_json", JsonText(sort_keys=False, damaged="{}"), nullable=False),
    Column("agent_version", String(MAX_AGENT_VERSION)),
    # specs as the agent measured them; string lengths are checked at the agent API's edge
    Column("cpu_model", String(MAX_CPU_MODEL)),
    Column("cpu_cores", Integer),
    Column("ram_mib", BigInteger),
    Column("disk_free_gib", Integer),
    Column("net_down_mbps", Integer),
    Column("net_up_mbps", Integer),
    Column("driver_version", String(MAX_DRIVER_VERSION)),
    Column("cuda_version", String(MAX_CUDA_VERSION)),
    Column("cuda_number", Integer),
    Column("gpu_total", Integer, nullable=False),
    # the instance one GPU gets (what /gpus shows and filters on)
    Column("share_cpu_millis", Integer),
    Column("share_ram_mib", BigInteger),
    Column("share_disk_gib", Integer),
    # the instance offer: backend, default template, custom images from which registries
    Column("backend", String(16)),
    Column("default_template", String(MAX_TEMPLATE_NAME)),
    Column("custom_images", Boolean, nullable=False),
    Column("registries", Text, nullable=False),
    Column("max_ports", Integer, nullable=False),
    # the instance offer as the agent reported it; "" for none (an agent before instances)
    Column("offer_json", JsonText(sort_keys=False, ascii=False, null_text=""), nullable=False),
    Column("verified_until", Time),
    Column("verified_json", VerificationText(), nullable=False),
    Column("probe_requested_at", Time),
    UniqueConstraint("provider_id", "name"),
)

# each GPU of each machine; ``rental_id`` is the one rental holding it, so a GPU can never be
# in two rentals: a hold is one conditional UPDATE of the free rows (core/db/gpus.py)
machine_gpus = Table(
    "machine_gpus",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, nullable=False),
    Column("uuid", String(MAX_GPU_UUID), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("name", String(MAX_GPU_NAME), nullable=False),
    Column("vram_mib", Integer),
    Column("gpu_model", String(32)),
    Column("listing_id", Integer),
    Column("pcie_gen", Integer),
    Column("pcie_width", Integer),
    Column("present", Boolean, nullable=False),
    Column("rental_id", Integer, index=True),
    Column("hold_until", Time),
    UniqueConstraint("machine_id", "uuid"),
    Index("ix_machine_gpus_free", "listing_id", "rental_id"),
)

# the templates each machine offers (``/templates``, ``/rent ... template=jupyter``)
machine_templates = Table(
    "machine_templates",
    metadata,
    Column("machine_id", Integer, primary_key=True),
    Column("name", String(MAX_TEMPLATE_NAME), primary_key=True, index=True),
    Column("image", String(MAX_IMAGE_REF), nullable=False),
    Column("title", String(MAX_TEMPLATE_TITLE), nullable=False),
    Column("jupyter", Boolean, nullable=False),
)

listings = Table(
    "listings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, nullable=False, index=True),
    Column("provider_id", Integer, nullable=False),
    Column("gpu_model", String(32), nullable=False),
    Column("gpu_count", Integer, nullable=False),
    Column("vram_gb", Integer, nullable=False),
    Column("price_per_hour", Money, nullable=False),
    Column("region", String(20), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reliability_bps", Integer, nullable=False),
    # its GPUs present and held by nobody (machine_gpus), kept in step by each hold/release
    Column("free_gpus", Integer, nullable=False),
    # its machine runs a rental without options: an agent without instances, or one with
    # complete specs and a default template (core/services/machine_specs.py, machine_ready)
    Column("ready", Boolean, nullable=False),
    # the slowest PCIe link of its GPUs, as last reported (what /gpus shows)
    Column("pcie_gen", Integer),
    Column("pcie_width", Integer),
    # the search path: status first, then the usual filters
    Index("ix_listings_model_price", "status", "gpu_model", "price_per_hour"),
    Index("ix_listings_model_rel", "status", "gpu_model", "reliability_bps"),
    Index("ix_listings_price", "status", "price_per_hour"),
    Index("ix_listings_rel", "status", "reliability_bps"),
    Index("ix_listings_free", "status", "gpu_model", "ready", "free_gpus"),  # the /gpus total
)

# descending VRAM, ascending price: the /gpus sort=vram order, walked without sorting
Index(
    "ix_listings_vram",
    listings.c.status,
    listings.c.vram_gb.desc(),
    listings.c.price_per_hour,
)

rentals = Table(
    "rentals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("renter_id", Integer, nullable=False, index=True),
    Column("listing_id", Integer, nullable=False, index=True),
    Column("provider_id", Integer, nullable=False, index=True),
    Column("machine_id", Integer, nullable=False),
    Column("gpu_model", String(32), nullable=False),
    Column("gpu_count", Integer, nullable=False),
    Column("price_per_hour", Money, nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("deposit", Money, nullable=False),
    Column("fee_bps", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("quote_expires_at", Time, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("reliability_bps", Integer, nullable=False),
    Column("hold_until", Time),
    Column("renter_address", String(42)),
    Column("provider_address", String(42)),
    Column("salt", String(66)),
    Column("escrow_id", String(66), unique=True),
    Column("funded_at", Time),
    Column("started_at", Time),
    Column("paid_until", Time),
    Column("ended_at", Time),
    Column("settled_at", Time),
    Column("billed", Money),
    Column("fee", Money),
    Column("provider_net", Money),
    Column("refund", Money),
    Column("open_tx", String(66)),
    Column("start_tx", String(66)),
    Column("stop_tx", String(66)),
    Column("settle_tx", String(66)),
    Column("access_username", String(MAX_USERNAME)),
    Column("access_host", String(MAX_HOST)),
    Column("access_port", Integer),
    Column("host_key_fingerprint", String(MAX_FINGERPRINT)),
    Column("public_key", Text),
    Column("key_generated", Boolean, nullable=False),
    Column("cancel_reason", String(200)),
    Column("dispute_reason", String(500)),
    Column("dispute_outcome", String(16)),
    Column("rating", Integer),
    Column("rating_comment", String(500)),
    Column("access_granted_at", Time),  # funded -> access granted is the response time
    Column("disputed_at", Time),  # when the dispute was mirrored (the keeper's arbiter clock)
    # the GPUs it holds, by UUID
    Column(
        "gpu_uuids_json", JsonText(sort_keys=False, compact=False, damaged="[]"), nullable=False
    ),
    # what runs on them: image, template, ports, limits
    Column("instance_json", JsonText()),
    # published ports as granted: [[container, host], ...]
    Column("access_ports_json", JsonText(sort_keys=False, compact=False)),
    Column("jupyter_port", Integer),
    Column("jupyter_token", String(MAX_JUPYTER_TOKEN)),
    Column("request_key", String(MAX_REQUEST_KEY)),  # the chat request that quoted it
    # one quote per request and renter: a request handled twice cannot quote twice
    Index("ux_rentals_request", "renter_id", "request_key", unique=True),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload_json", JsonText(), nullable=False),
    Column("dedupe_key", String(128), nullable=False, unique=True),
    Column("created_at", Time, nullable=False),
    Column("next_attempt_at", Time, nullable=False),
    Column("private", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at", Time),
    Column("last_error", String(500)),
    Column("claimed_until", Time),  # a sender holds the row until then (no double sends)
    Index("ix_outbox_due", "sent_at", "next_attempt_at"),
)

chain_events = Table(
    "chain_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tx_hash", String(66), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("name", String(32), nullable=False),
    Column("escrow_id", String(66), nullable=False, index=True),
    Column("args_json", JsonText(compact=False, any_as_str=True), nullable=False),
    Column("applied_at", Time, nullable=False),
    UniqueConstraint("tx_hash", "log_index"),
)

pending_signatures = Table(
    "pending_signatures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload_json", JsonText(sort_keys=False), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("rental_id", Integer, index=True),
    Column("status", String(16), nullable=False),
    Column("request_key", String(MAX_REQUEST_KEY)),  # the chat request that asked for it
    Index("ix_pending_signatures_due", "status", "expires_at"),  # the keeper's expiry scan
    # one signature request per chat request and user: a request handled twice asks once
    Index("ux_pending_signatures_request", "user_id", "request_key", unique=True),
)

settings_kv = Table(
    "settings_kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# chat updates claimed by one service process (Telegram update ids): none is handled twice,
# and one whose claimer died is taken over after its lease
processed_updates = Table(
    "processed_updates",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("claimed_until", Time, nullable=False),
    Column("done_at", Time),
    Column("created_at", Time, nullable=False, index=True),
)

# one WalletConnect link per user (pairing in progress or settled session); ``secret`` holds the
# session keys encrypted at rest, ``pending_json`` the requests in flight (``pending``)
wallet_sessions = Table(
    "wallet_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("topic", String(64), nullable=False, unique=True),
    Column("pairing_topic", String(64)),
    Column("secret", Text, nullable=False),
    Column("address", String(42)),
    Column("chain_id", BigInteger),
    Column("expiry", Time, nullable=False),
    Column("peer_name", String(64)),
    Column("pending_json", JsonText(sort_keys=False, compact=False, damaged="{}"), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# payments the escrow parked for a recipient after a failed push (PushFailed), until a claim
# pays them (Claimed); the keeper retries claimFor for the due ones
held_payouts = Table(
    "held_payouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rental_id", Integer, nullable=False, index=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("role", String(8), nullable=False),
    Column("address", String(42), nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("held_at", Time, nullable=False),
    Column("next_try_at", Time, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", String(200)),
    Column("paid_at", Time),
    Column("paid_tx", String(66)),
    UniqueConstraint("tx_hash", "log_index"),
    Index("ix_held_payouts_due", "status", "next_try_at"),
)
