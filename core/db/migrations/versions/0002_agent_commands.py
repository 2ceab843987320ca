"""agent command queue, dispute evidence, rental response time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("rental_id", sa.Integer(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("done_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_commands")),
        sa.UniqueConstraint("machine_id", "seq", name=op.f("uq_agent_commands_machine_id_seq")),
    )
    with op.batch_alter_table("agent_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_commands_rental_id"), ["rental_id"])

    op.create_table(
        "agent_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("rental_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_evidence")),
    )
    with op.batch_alter_table("agent_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_evidence_rental_id"), ["rental_id"])

    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_granted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.drop_column("access_granted_at")
    with op.batch_alter_table("agent_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_evidence_rental_id"))
    op.drop_table("agent_evidence")
    with op.batch_alter_table("agent_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_commands_rental_id"))
    op.drop_table("agent_commands")
