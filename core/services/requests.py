"""Which chat request is being answered, so that answering it twice changes nothing twice.

A chat update is delivered at least once: when the process handling it dies after the
update's effects committed but before it was marked handled, the update is handled again
after the restart (``bot/telegram/once.py``: its claim's lease runs out). A front end names the
request it answers (``answering("telegram:<update id>")``); a service whose effect must not
happen twice (a quote) records the request key in the effect's own transaction and, asked
again under the same key, answers with what it made the first time.

Looking for that earlier effect costs a read, and nearly every request is answered for the
first time: a front end that knows it (the update's claim was new, not taken over from a
handler that died) says ``first=True``, and the services skip the look (``may_repeat``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[tuple[str, bool] | None] = ContextVar("rigshare_request", default=None)


@contextmanager
def answering(key: str, *, first: bool = False) -> Iterator[None]:
    """Name the request the code inside answers (in this task and what it awaits).
    ``first``: no handling of it ever started before this one, so none left effects."""
    token = _current.set((key, first))
    try:
        yield
    finally:
        _current.reset(token)


def current_request() -> str | None:
    """The key of the request being answered; None outside one (the keeper, a test)."""
    current = _current.get()
    return current[0] if current is not None else None


def may_repeat() -> bool:
    """Whether an earlier handling of the current request may have left effects to find."""
    current = _current.get()
    return current is not None and not current[1]
