"""rental disputed_at (the keeper finalizes disputes after the arbiter timeout)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disputed_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.drop_column("disputed_at")
