"""Which chat request is being answered, so that answering it twice changes nothing twice.

A chat update is delivered at least once: when the process handling it dies after the
update's effects committed but before it was marked handled, the update is handled again
after the restart (``bot/telegram/once.py``: its claim's lease runs out). A front end names the
request it answers (``answering("telegram:<update id>")``); a service whose effect must not
happen twice (a quote) records the request key in the effect's own transaction and, asked
again under the same key, answers with what it made the first time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("rigshare_request", default=None)


@contextmanager
def answering(key: str) -> Iterator[None]:
    """Name the request the code inside answers (in this task and what it awaits)."""
    token = _current.set(key)
    try:
        yield
    finally:
        _current.reset(token)


def current_request() -> str | None:
    """The key of the request being answered; None outside one (the keeper, a test)."""
    return _current.get()
