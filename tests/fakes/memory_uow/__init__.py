"""An in-memory unit of work for fast service tests: the ports of core/repo_ports.py on dicts.

Semantics the services rely on, kept as the SQLAlchemy unit of work keeps them:
- each unit of work works on its own copy of the committed rows (copy on begin), so leaving
  without ``commit`` leaves no trace and an entity changed in place is only stored by a commit;
- ``commit`` writes back only the rows this unit of work added, changed or deleted, so two
  units of work that touched different rows both keep their changes;
- ``add`` stages an entity and ``flush`` (or a query, or the commit) gives it the next id of
  its table, as the database's autoincrement does; a flush or commit that breaks one of the
  tables' unique constraints raises UniqueViolation;
- queries filter, order, page and count as the SQL ones do (NULL compares as SQL compares
  it), and the GPU holds keep ``Listing.free_gpus`` in step with the GPU rows.

What it does not model: locks. Nothing in it yields to the event loop, so a use case's unit
of work runs to its commit without another task's in between, as the one SQLite writer
connection serialises writers; rows changed by the SQL repositories' bulk UPDATEs change here
on the entities in hand too (a session would keep its stale copies until refreshed).

It implements the repositories the users, key-value, receipts, market, rental and provider
services use (and what their tests seed with); a service that calls anything else (agent
commands, probes, heartbeats, chain events) fails with AttributeError, never with a silent
default.
"""

from tests.fakes.memory_uow.store import MemoryStore, UniqueViolation
from tests.fakes.memory_uow.uow import MemoryUnitOfWork, MemoryUowFactory

__all__ = ["MemoryStore", "MemoryUnitOfWork", "MemoryUowFactory", "UniqueViolation"]
