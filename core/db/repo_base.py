"""What every repository shares: the session, and INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession


@functools.cache
def insert_or_ignore(dialect: str, table: Any, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, built once per dialect; values are passed
    as parameters so every call hits SQLAlchemy's compiled-statement cache."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return ins(table).on_conflict_do_nothing(index_elements=list(keys))


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE touched. Those statements give a CursorResult;
    ``AsyncSession.execute`` is typed for any statement, so it only promises a Result."""
    return cast(CursorResult[Any], result).rowcount


class Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def add(self, entity: object) -> None:
        self.s.add(entity)

    async def flush(self) -> None:
        await self.s.flush()
