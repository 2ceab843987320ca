"""What every service gets from the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from core.domain.billing import DEFAULT_FEE_BPS
from core.domain.gpus import get_model
from core.domain.listings import PAYMENT_HOLD_SECONDS, QUOTE_TTL_SECONDS
from core.domain.model import OutboxMessage, Provider, Rental
from core.errors import NotFound
from core.notifications import Notification, to_payload
from core.ports import Clock
from core.repo_ports import UnitOfWork, UowFactory

__all__ = [
    "UnitOfWork",
    "UowFactory",
]  # the ports' home is core.repo_ports; services import them here


@dataclass(frozen=True)
class MarketRules:
    fee_bps: int = DEFAULT_FEE_BPS
    quote_ttl_s: int = QUOTE_TTL_SECONDS
    payment_hold_s: int = PAYMENT_HOLD_SECONDS
    accept_timeout_s: int = 10 * 60  # funded but never provisioned -> full refund
    warn_before_end_s: int = 15 * 60
    arbiter_delay_s: int = 5 * 60  # late beats and SSH logs arrive before a dispute is decided
    relay_retry_s: int = 120  # a signed request still unrelayed this long after is relayed again
    # the token goes in the environment, never on the command line (ps shows argv to everyone)
    agent_command_template: str = "RIGSHARE_AGENT_TOKEN={token} rigshare-agent --server {server}"
    server_url: str = "http://127.0.0.1:8080"


def gpu_name(model_key: str) -> str:
    m = get_model(model_key)
    return m.name if m else model_key


async def enqueue(
    uow: UnitOfWork,
    notification: Notification,
    *,
    user_id: int,
    dedupe_key: str,
    now: int,
) -> None:
    """Stage ``notification`` for ``user_id`` in the caller's transaction (delivered at least
    once; its type gives the stored kind and whether it is private).

    A second message with the same ``dedupe_key`` is dropped, so replays cannot double-send.
    """
    await uow.outbox.enqueue(
        OutboxMessage(
            user_id=user_id,
            kind=notification.KIND,
            payload=to_payload(notification),
            dedupe_key=dedupe_key,
            created_at=now,
            next_attempt_at=now,
            private=notification.PRIVATE,
        )
    )


_T = TypeVar("_T")


def require(value: _T | None, missing: NotFound) -> _T:
    """``value``, or ``missing`` raised when it is None (bad input: what a user named)."""
    if value is None:
        raise missing
    return value


def present(value: _T | None, what: str) -> _T:
    """``value``, which the state of the caller's rows guarantees (a rental's provider, the
    escrow id of a funded rental): None here is a bug or a corrupt row, not bad input."""
    if value is None:
        raise ValueError(f"{what} is missing")
    return value


async def provider_of(uow: UnitOfWork, rental: Rental) -> Provider:
    """The provider a rental was quoted from (a foreign key: it is there)."""
    provider = await uow.providers.get(rental.provider_id)
    return present(provider, f"provider {rental.provider_id} of rental {rental.id}")


@dataclass(init=False, repr=False, eq=False)
class Service:
    """What every use case reads with; a subclass that is a dataclass adds its collaborators
    as fields after these (``_: KW_ONLY``) and gets ``(uow, clock, rules, *, ...)``."""

    uow: UowFactory
    clock: Clock
    rules: MarketRules

    def __init__(self, uow: UowFactory, clock: Clock, rules: MarketRules | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.rules = rules or MarketRules()
