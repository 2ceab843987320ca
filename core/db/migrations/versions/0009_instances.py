"""instances: GPUs per machine held per rental, machine specs and instance offers, templates,
a rental's GPUs, instance and access details; listings are no longer held as a whole

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-07 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None

_MACHINE_COLUMNS = (
    ("cpu_model", sa.String(length=128), None),
    ("cpu_cores", sa.Integer(), None),
    ("ram_mib", sa.BigInteger(), None),
    ("disk_free_gib", sa.Integer(), None),
    ("net_down_mbps", sa.Integer(), None),
    ("net_up_mbps", sa.Integer(), None),
    ("driver_version", sa.String(length=64), None),
    ("cuda_version", sa.String(length=32), None),
    ("cuda_number", sa.Integer(), None),
    ("gpu_total", sa.Integer(), sa.text("0")),
    ("share_cpu_millis", sa.Integer(), None),
    ("share_ram_mib", sa.BigInteger(), None),
    ("share_disk_gib", sa.Integer(), None),
    ("backend", sa.String(length=16), None),
    ("default_template", sa.String(length=32), None),
    ("custom_images", sa.Boolean(), sa.false()),
    ("registries", sa.Text(), sa.text("''")),
    ("max_ports", sa.Integer(), sa.text("0")),
    ("offer_json", sa.Text(), sa.text("''")),
)


def upgrade() -> None:
    op.create_table(
        "machine_gpus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=96), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("vram_mib", sa.Integer(), nullable=True),
        sa.Column("gpu_model", sa.String(length=32), nullable=True),
        sa.Column("listing_id", sa.Integer(), nullable=True),
        sa.Column("pcie_gen", sa.Integer(), nullable=True),
        sa.Column("pcie_width", sa.Integer(), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("rental_id", sa.Integer(), nullable=True),
        sa.Column("hold_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_gpus")),
        sa.UniqueConstraint("machine_id", "uuid", name=op.f("uq_machine_gpus_machine_id_uuid")),
    )
    with op.batch_alter_table("machine_gpus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_gpus_rental_id"), ["rental_id"])
        batch_op.create_index("ix_machine_gpus_free", ["listing_id", "rental_id"])
    op.create_table(
        "machine_templates",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("jupyter", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("machine_id", "name", name=op.f("pk_machine_templates")),
    )
    with op.batch_alter_table("machine_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_templates_name"), ["name"])
    with op.batch_alter_table("machines", schema=None) as batch_op:
        for name, type_, default in _MACHINE_COLUMNS:
            batch_op.add_column(
                sa.Column(name, type_, nullable=default is None, server_default=default)
            )
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gpu_uuids_json", sa.Text(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("instance_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("access_ports_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("jupyter_port", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("jupyter_token", sa.String(length=128), nullable=True))
    # a listing is offered or not; which GPUs are taken is kept per GPU from now on. Live
    # rentals of a listing held as a whole are given GPUs when its machine next reports them
    # (core/db/gpus.py, adopt).
    op.execute("UPDATE listings SET status = 'available' WHERE status IN ('held', 'rented')")
    with op.batch_alter_table("listings", schema=None) as batch_op:
        # counted when the machine's agent next reports its GPUs
        batch_op.add_column(
            sa.Column("free_gpus", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("ready", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("pcie_gen", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pcie_width", sa.Integer(), nullable=True))
        batch_op.create_index("ix_listings_free", ["status", "gpu_model", "ready", "free_gpus"])
    # plain ALTER TABLE (PostgreSQL, SQLite >= 3.35): a batch copy of listings would have to
    # re-create its expression index (vram_gb DESC)
    op.execute("ALTER TABLE listings DROP COLUMN held_by_rental_id")
    op.execute("ALTER TABLE listings DROP COLUMN hold_until")


def downgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_index("ix_listings_free")
        batch_op.drop_column("pcie_width")
        batch_op.drop_column("pcie_gen")
        batch_op.drop_column("ready")
        batch_op.drop_column("free_gpus")
    op.execute("ALTER TABLE listings ADD COLUMN held_by_rental_id INTEGER")
    op.execute("ALTER TABLE listings ADD COLUMN hold_until BIGINT")
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        for name in (
            "jupyter_token",
            "jupyter_port",
            "access_ports_json",
            "instance_json",
            "gpu_uuids_json",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("machines", schema=None) as batch_op:
        for name, _, _ in reversed(_MACHINE_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("machine_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_templates_name"))
    op.drop_table("machine_templates")
    with op.batch_alter_table("machine_gpus", schema=None) as batch_op:
        batch_op.drop_index("ix_machine_gpus_free")
        batch_op.drop_index(batch_op.f("ix_machine_gpus_rental_id"))
    op.drop_table("machine_gpus")
