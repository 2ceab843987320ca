"""JSON stored as text: the mapping layer turns the column's text into Python values and back,
so that entities hold lists and dicts and no service serialises what it stores.

The column stays ``TEXT`` (no migration) and each column writes the text it wrote before this
type existed (``sort_keys``, ``compact`` separators as the service used to dump), so rows written
before and after compare and read alike. A stored value that is not JSON (a damaged row, a
hand edit) never crashes a reader: it reads as the column's ``damaged`` value, and the row is
logged once per read.

Entities replace these values whole (``rental.gpu_uuids = [...]``), never mutate them in place:
the ORM notices an attribute assigned, not a dict changed under it (no MutableDict on purpose,
so a change is always an assignment a reader of the service can see).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from core.domain.verification import Endpoint, Verification
from core.safe_json import MAX_DEPTH, nesting

log = logging.getLogger(__name__)


def dumps(
    value: object, *, sort_keys: bool, compact: bool, ascii: bool = True, any_as_str: bool = False
) -> str:
    """``value`` as the column stores it (deterministic with ``sort_keys``)."""
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(
        value,
        sort_keys=sort_keys,
        separators=separators,
        ensure_ascii=ascii,
        default=str if any_as_str else None,
    )


def loads(text: str, damaged: str) -> Any:
    """``text`` read as JSON; ``damaged`` (JSON text) read instead when it is not JSON or nests
    deeper than any value the service stores. Numbers of any size are read (the service wrote
    them: uint256 amounts), unlike a body from outside (core/safe_json.py)."""
    # the depth first, as for a body from outside: the parser recurses in C once per level and
    # overflows the C stack (killing the process) where a library raised the recursion limit
    if nesting(text.encode("utf-8", "surrogatepass")) <= MAX_DEPTH:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    log.warning("a stored JSON value is damaged (%d chars); read as %s", len(text), damaged)
    return json.loads(damaged)


class JsonText(TypeDecorator[Any]):
    """A JSON value in a TEXT column. None is SQL NULL both ways, or ``null_text`` where the
    column is NOT NULL and has always stored that text for "none" (``""``). ``ascii`` False
    writes non-ASCII characters as they are, as pydantic's ``model_dump_json`` did;
    ``any_as_str`` stores what JSON has no type for (bytes of a decoded chain log) as its str."""

    impl = Text
    cache_ok = True

    def __init__(
        self,
        *,
        sort_keys: bool = True,
        compact: bool = True,
        ascii: bool = True,
        damaged: str = "null",
        null_text: str | None = None,
        any_as_str: bool = False,
    ):
        super().__init__()
        self.sort_keys = sort_keys
        self.compact = compact
        self.ascii = ascii
        self.damaged = damaged
        self.null_text = null_text
        self.any_as_str = any_as_str

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return self.null_text
        return dumps(
            value,
            sort_keys=self.sort_keys,
            compact=self.compact,
            ascii=self.ascii,
            any_as_str=self.any_as_str,
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or value == self.null_text:
            return None
        return loads(value, self.damaged)


class VerificationText(TypeDecorator[Verification | None]):
    """A machine's ``Verification`` as its row has always stored it: ``""`` for none, else
    ``{"endpoint":[host,port,fingerprint],"gpus":[sorted UUIDs]}``. A damaged row reads as
    None (not verified), which only costs the machine its verified mark until the next probe."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Verification | None, dialect: Dialect) -> str:
        if value is None:
            return ""
        e = value.endpoint
        data = {
            "endpoint": [e.host, e.port, e.host_key_fingerprint],
            "gpus": sorted(value.gpu_uuids),
        }
        return dumps(data, sort_keys=False, compact=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> Verification | None:
        if not value:
            return None
        data = loads(value, "null")
        try:
            host, port, fingerprint = data["endpoint"]
            return Verification(Endpoint(host, port, fingerprint), frozenset(data["gpus"]))
        except (KeyError, TypeError, ValueError):
            log.warning("a stored verification is damaged; read as none")
            return None
