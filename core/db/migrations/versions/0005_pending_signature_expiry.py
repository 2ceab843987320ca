"""index for the keeper's scan of wallet requests past their expiry

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-21 18:30:00
"""

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_signatures", schema=None) as batch_op:
        batch_op.create_index("ix_pending_signatures_due", ["status", "expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("pending_signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_signatures_due")
