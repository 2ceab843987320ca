"""scrub secrets (generated SSH private keys) from outbox rows that were dead-lettered before
dead letters were scrubbed: they are never sent again and must not sit in plain text

Revision ID: 0012
Revises: 0003
Create Date: 2026-12-07 14:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0003"
branch_labels = None
depends_on = None

NEVER = 2**62  # core.services.notifications.NEVER, frozen here as migrations must be


def upgrade() -> None:
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("payload_json", sa.Text),
        sa.column("next_attempt_at", sa.BigInteger),
        sa.column("sent_at", sa.BigInteger),
    )
    conn = op.get_bind()
    dead = conn.execute(
        sa.select(outbox.c.id, outbox.c.payload_json).where(
            outbox.c.kind == "private_key",
            outbox.c.sent_at.is_(None),
            outbox.c.next_attempt_at >= NEVER,
        )
    ).all()
    for row_id, payload in dead:
        try:
            rental_id = json.loads(payload).get("rental_id")
        except (ValueError, AttributeError):
            rental_id = None
        scrubbed = json.dumps({"rental_id": rental_id, "scrubbed": True})
        conn.execute(sa.update(outbox).where(outbox.c.id == row_id).values(payload_json=scrubbed))


def downgrade() -> None:
    pass  # a scrubbed secret cannot come back
