"""rental request_key: the chat request that made a quote, kept on the quote itself (it was a
"quoted:<request>" settings row per quote, never pruned)

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


def upgrade() -> None:
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_key", sa.String(MAX_REQUEST_KEY), nullable=True))
        batch_op.create_index("ux_rentals_request", ["renter_id", "request_key"], unique=True)
    # the old per-quote rows only guarded a redelivery within a quote's lifetime: drop them
    settings = sa.table("settings_kv", sa.column("key", sa.String))
    op.execute(settings.delete().where(settings.c.key.like("quoted:%")))


def downgrade() -> None:
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.drop_index("ux_rentals_request")
        batch_op.drop_column("request_key")
