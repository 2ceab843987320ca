"""request keys: the chat request that made a quote (rentals.request_key, until now a
"quoted:<request>" settings row per quote that was never pruned) and the one that asked for a
signature (pending_signatures.request_key), so that a request handled again after a crash finds
what it made instead of making it twice

Revision ID: 0013
Revises: 0003
Create Date: 2026-12-07 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0003"
branch_labels = None
depends_on = None

MAX_REQUEST_KEY = 80  # core.domain.limits.MAX_REQUEST_KEY, frozen here as migrations must be
# each table, its unique index and the column the key is unique with
KEYED = (
    ("rentals", "ux_rentals_request", "renter_id"),
    ("pending_signatures", "ux_pending_signatures_request", "user_id"),
)


def upgrade() -> None:
    for table, index, owner in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("request_key", sa.String(MAX_REQUEST_KEY)))
            batch_op.create_index(index, [owner, "request_key"], unique=True)
    # the old per-quote rows only guarded a redelivery within a quote's lifetime: drop them
    settings = sa.table("settings_kv", sa.column("key", sa.String))
    op.execute(settings.delete().where(settings.c.key.like("quoted:%")))


def downgrade() -> None:
    for table, index, _ in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
            batch_op.drop_column("request_key")
