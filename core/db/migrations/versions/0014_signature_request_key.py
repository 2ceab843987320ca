"""pending_signatures request_key: the chat request that asked for a signature, so that the
same request handled again after a crash asks the wallet again instead of twice

Revision ID: 0014
Revises: 0003
Create Date: 2026-12-07 20:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0003"
branch_labels = None
depends_on = None

MAX_REQUEST_KEY = 80  # core.domain.limits.MAX_REQUEST_KEY, frozen here as migrations must be


def upgrade() -> None:
    with op.batch_alter_table("pending_signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_key", sa.String(MAX_REQUEST_KEY), nullable=True))
        batch_op.create_index(
            "ux_pending_signatures_request", ["user_id", "request_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_signatures", schema=None) as batch_op:
        batch_op.drop_index("ux_pending_signatures_request")
        batch_op.drop_column("request_key")
