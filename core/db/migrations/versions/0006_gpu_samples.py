"""per-minute GPU samples (status charts), outbox claim lease (two senders never send twice)

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-21 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gpu_samples",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("gpus_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("machine_id", "minute", name=op.f("pk_gpu_samples")),
    )
    with op.batch_alter_table("gpu_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gpu_samples_minute"), ["minute"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
    with op.batch_alter_table("gpu_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gpu_samples_minute"))
    op.drop_table("gpu_samples")
