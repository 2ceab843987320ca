"""What the database layer lets out: no statement parameters in logs or error texts (they
carry generated SSH keys), and a SQLite file only its owner can read."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from sqlalchemy.exc import IntegrityError

from core.db.engine import create_database

SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- s3cr3t-parameter"
INSERT = (
    "insert into outbox (user_id, kind, payload_json, dedupe_key, created_at,"
    " next_attempt_at, private, attempts) values (1, 'private_key', :p, 'k', 0, 0, true, 0)"
)


async def test_debug_logs_and_errors_never_show_statement_parameters(app, caplog):
    from sqlalchemy import text

    caplog.set_level(logging.DEBUG)  # LOG_LEVEL=DEBUG: every logger at DEBUG
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    # what create_database does for everybody (the app fixture made its engines earlier)
    fresh = create_database(app.db.url, schema=app.settings.database_schema)
    try:
        async with fresh.write.begin() as conn:
            await conn.execute(text(INSERT), {"p": SECRET})
        with pytest.raises(IntegrityError) as refused:  # the same dedupe key again
            async with fresh.write.begin() as conn:
                await conn.execute(text(INSERT), {"p": SECRET})
    finally:
        await fresh.dispose()
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)
    assert "insert into outbox" in caplog.text.lower()  # the statements are logged, …
    assert "s3cr3t" not in caplog.text  # … their parameters are not
    assert "s3cr3t" not in str(refused.value)


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    fresh = tmp_path / "var" / "rigshare.sqlite3"
    create_database(f"sqlite:///{fresh}")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    old = tmp_path / "old.sqlite3"  # made world-readable by an earlier version
    old.write_bytes(b"")
    os.chmod(old, 0o644)
    create_database(f"sqlite:///{old}")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
