"""Which database errors say "the database is away" rather than "this row is bad".

A loop that sets a failing item aside after a few tries (the chain watcher) must not do so
while the database itself is unreachable or busy: then every item fails, and every one would
be set aside. Those errors are retried for as long as they last instead.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def is_transient(exc: BaseException) -> bool:
    """True for a lost or refused connection, a pool timeout, a locked or busy database (any
    error in ``exc``'s chain of causes); False for what a row or statement got wrong."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError | TimeoutError | PoolTimeout | DisconnectionError):
            return True
        if isinstance(seen, OperationalError | InterfaceError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
