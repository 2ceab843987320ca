"""A chat request handled again after a crash asks the wallet again; it does not ask twice.

A signature request (``/extend``, ``/dispute``) made while answering a chat request records
that request's key (core/services/requests.py). The same update handled again after a crash
finds it: while it still waits for the wallet, the same request (its token, amount, salt and
deadline) is shown again instead of a second one; once the wallet answered (or the request ran
out) the message counts as answered and nothing new is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from core.domain.signatures import PendingSignature, RelayParams, SignatureKind
from core.errors import Conflict
from core.repo_ports import UnitOfWork
from core.services.requests import current_request, may_repeat

R = TypeVar("R", bound=RelayParams)


@dataclass(frozen=True, slots=True)
class Repeat:
    waiting: PendingSignature | None  # the earlier handling's request, still waiting
    key: str | None  # the key a new request records (None outside a chat request)

    def relay(self, kind: type[R]) -> R | None:
        """The earlier request's relay arguments, when it is waiting and of ``kind``."""
        params = self.waiting.relay_params() if self.waiting is not None else None
        return params if isinstance(params, kind) else None


async def repeat_of(
    uow: UnitOfWork, user_id: int, rental_id: int, kind: SignatureKind, now: int
) -> Repeat:
    """What an earlier handling of the current chat request asked the wallet for; raises
    Conflict when that request is no longer waiting (signed, refused or run out)."""
    key = current_request()
    if key is None:
        return Repeat(None, None)
    if not may_repeat():  # answered for the first time: nothing earlier to find
        return Repeat(None, key)
    earlier = await uow.signatures.by_request(user_id, key)
    if earlier is None:
        return Repeat(None, key)
    if not earlier.is_pending or earlier.expired_at(now):
        raise Conflict.keyed("signatures.answered_before", rental_id=rental_id)
    if (earlier.rental_id, earlier.kind) != (rental_id, kind.value):
        # one chat message is one command: another rental or kind under the same key is a
        # different request, asked for without the key (it is taken)
        return Repeat(None, None)
    return Repeat(earlier, None)
