"""Alembic environment: always driven from ``core.db.migrate`` with a live connection."""

from __future__ import annotations

from alembic import context

from core.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path is not used
    raise RuntimeError("run migrations through core.db.migrate.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
