"""Small persistent settings that front ends keep across restarts (the Discord board ids).

Backed by the ``settings_kv`` table (core.domain.model.Setting): keys up to 64 characters,
text values.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import ValidationError
from core.services.base import Service

MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 100_000


class KeyValueService(Service):
    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None; raises ValidationError for a bad key."""
        _check_key(key)
        async with self.uow(readonly=True) as uow:
            return await uow.settings.get_value(key)

    async def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (replacing any); ValidationError for a bad key or a
        value over MAX_VALUE_CHARS."""
        _check(key, value)
        async with self.uow(one_statement=True) as uow:  # one upsert: atomic by itself
            await uow.settings.set_value(key, value)
            await uow.commit()

    async def put_many(self, values: Mapping[str, str]) -> None:
        """``put`` of each value, all or none: one upsert run for every row, atomic by itself
        (asyncpg sends the rows with one Sync, so PostgreSQL runs them in one implicit
        transaction; SQLite's writer wraps it in its own), so no BEGIN and COMMIT round trips."""
        for key, value in values.items():
            _check(key, value)
        async with self.uow(one_statement=True) as uow:
            await uow.settings.set_values(values)
            await uow.commit()


def _check(key: str, value: str) -> None:
    _check_key(key)
    if len(value) > MAX_VALUE_CHARS:
        raise ValidationError(f"A setting holds at most {MAX_VALUE_CHARS:,} characters.")


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValidationError(f"A setting key has 1 to {MAX_KEY_CHARS} characters.")
