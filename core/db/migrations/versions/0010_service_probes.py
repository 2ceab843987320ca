"""service probes: a machine is verified only by the service's own probe (machine_probes, the
machines' verification); listings verified from what agents reported are verified no longer

Revision ID: 0010_service_probes
Revises: 0003
Create Date: 2027-01-12 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_service_probes"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "machine_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gpu_uuids_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("answer_json", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=320), nullable=True),
        sa.Column("seen_fingerprint", sa.String(length=128), nullable=True),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_probes")),
    )
    with op.batch_alter_table("machine_probes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_probes_machine_id"), ["machine_id"])
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_until", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("verified_json", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("probe_requested_at", sa.BigInteger(), nullable=True))
    # "verified" came from the agents' own NVML reports: nothing was checked by the service
    op.execute("UPDATE listings SET verified = false")


def downgrade() -> None:
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_column("probe_requested_at")
        batch_op.drop_column("verified_json")
        batch_op.drop_column("verified_until")
    with op.batch_alter_table("machine_probes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_probes_machine_id"))
    op.drop_table("machine_probes")
