"""held payouts: what the escrow parked after a refused transfer (PushFailed), until a claim
pays it (Claimed), with the keeper's retry schedule

Revision ID: 0010_payouts
Revises: 0003
Create Date: 2027-01-10 12:00:00
"""

import sqlalchemy as sa
from alembic import op

# a name, not just a number: features add revisions on their own branches off 0003
revision = "0010_payouts"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rental_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("held_at", sa.BigInteger(), nullable=False),
        sa.Column("next_try_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("paid_at", sa.BigInteger(), nullable=True),
        sa.Column("paid_tx", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_payouts")),
        sa.UniqueConstraint("tx_hash", "log_index", name=op.f("uq_held_payouts_tx_hash_log_index")),
    )
    with op.batch_alter_table("held_payouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_payouts_rental_id"), ["rental_id"])
        batch_op.create_index(batch_op.f("ix_held_payouts_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_held_payouts_address"), ["address"])
        batch_op.create_index("ix_held_payouts_due", ["status", "next_try_at"])


def downgrade() -> None:
    with op.batch_alter_table("held_payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_held_payouts_due")
        batch_op.drop_index(batch_op.f("ix_held_payouts_address"))
        batch_op.drop_index(batch_op.f("ix_held_payouts_user_id"))
        batch_op.drop_index(batch_op.f("ix_held_payouts_rental_id"))
    op.drop_table("held_payouts")
