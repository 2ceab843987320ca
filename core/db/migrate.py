"""Run Alembic migrations from code (the service migrates on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from core.db.engine import Database
from core.db.mutex import DatabaseMutex

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def migrate(db: Database, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision`` (every head: features add revisions on their own
    branches off the last shared one); safe to call on every start, also from several
    processes starting at once (they take turns: the first migrates, the others find the
    schema current)."""
    async with DatabaseMutex(db, "migrate")(), db.write.connect() as conn:
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision))
        await conn.commit()
