"""The in-memory "database" (committed rows per table, each table's last id) and what every
in-memory repository shares: its table inside one unit of work, queries over it, and the
comparisons SQL makes with NULL."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.memory_uow.uow import MemoryUnitOfWork

Rows = dict[Any, Any]


class UniqueViolation(ValueError):
    """A flush would store a second row with the same value of a unique column (or columns),
    where the database raises an IntegrityError."""


def _value(v: Any) -> Any:
    # a list or dict field (a typed JSON column) is copied, so that a change made in place on
    # one unit of work's entity reaches neither the store nor another unit of work
    return copy.deepcopy(v) if isinstance(v, list | dict | set) else v


def copy_of(entity: Any) -> Any:
    """A detached copy of ``entity`` (a field-wise copy; list and dict fields are copied too)."""
    return dataclasses.replace(
        entity, **{f.name: _value(getattr(entity, f.name)) for f in dataclasses.fields(entity)}
    )


def fields_of(entity: Any) -> tuple[Any, ...]:
    """The entity's values, to tell later whether it changed."""
    return tuple(_value(getattr(entity, f.name)) for f in dataclasses.fields(entity))


def at_least(value: int | None, floor: int | None) -> bool:
    """``value >= floor`` as SQL reads it: a comparison with NULL is never true."""
    return value is not None and floor is not None and value >= floor


def at_most(value: int | None, ceiling: int | None) -> bool:
    return value is not None and ceiling is not None and value <= ceiling


class MemoryStore:
    """The "database": committed rows per table and each table's last id."""

    def __init__(self) -> None:
        self.tables: dict[str, Rows] = {}
        self.last_id: dict[str, int] = {}
        self.commits = 0


class Table:
    """One table inside a unit of work: its working rows and the entities staged by ``add``.

    ``unique`` names the columns (each a tuple: one constraint) the table's unique
    constraints cover; a flush that would break one raises UniqueViolation.
    """

    name = ""
    unique: tuple[tuple[str, ...], ...] = ()

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow

    @staticmethod
    def key(entity: Any) -> Any:
        return entity.id

    @property
    def rows(self) -> Rows:
        self.uow.flush_now()  # queries see what was added, as SQLAlchemy's autoflush does
        return self.uow.work[self.name]

    def add(self, entity: Any) -> None:
        self.uow.pending.append((self, entity))

    def where(self, test: Callable[[Any], bool], *, newest_first: bool = False) -> list[Any]:
        """The rows that pass ``test`` in key order (the id: insertion order)."""
        hits = sorted((e for e in self.rows.values() if test(e)), key=self.key)
        return hits[::-1] if newest_first else hits

    def one(self, test: Callable[[Any], bool]) -> Any:
        hits = self.where(test)
        return hits[0] if hits else None

    def check_unique(self, entity: Any, rows: Rows) -> None:
        for columns in self.unique:
            values = tuple(getattr(entity, c) for c in columns)
            if None in values:
                continue  # NULLs are never equal to each other in a unique constraint
            for other in rows.values():
                if other is not entity and tuple(getattr(other, c) for c in columns) == values:
                    raise UniqueViolation(f"{self.name}: {columns} {values!r} is taken")
