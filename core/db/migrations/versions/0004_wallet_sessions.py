"""WalletConnect sessions per user (keys encrypted at rest, requests in flight)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("pairing_topic", sa.String(length=64), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("peer_name", sa.String(length=64), nullable=True),
        sa.Column("pending_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_sessions")),
        sa.UniqueConstraint("user_id", name=op.f("uq_wallet_sessions_user_id")),
        sa.UniqueConstraint("topic", name=op.f("uq_wallet_sessions_topic")),
    )


def downgrade() -> None:
    op.drop_table("wallet_sessions")
