"""The agent's side of a rental's lifecycle: the grants (the instance to run, with exactly the
rented GPUs), what the agent granted, and a grant that failed.

A failed grant refunds the renter in full (the escrow's cancelPending), tells the renter why
in words (``core.domain.instances.failure_kind``, never the agent's own text) and the provider
what failed on which machine (the agent's text, bounded), and takes the machine off the market
(``failing``) until the provider fixes it and sends /resume.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from core.domain.instances import failure_kind
from core.domain.model import Rental, stored_id
from core.domain.rentals import RentalState as S
from core.errors import PaymentError
from core.notifications.providers import ProviderGrantFailed
from core.notifications.rentals import CredentialsReady, SetupFailed
from core.ports import AccessGrant, AccessInfo, AgentGateway, EscrowPort
from core.services.base import MarketRules, Service, UnitOfWork, enqueue, present, provider_of
from core.services.followups import RefundUnstarted
from core.services.instances import gpu_uuids, request_of, view_of
from core.services.verification import refresh_listings, take_off_market

if TYPE_CHECKING:
    from core.services.messagebus import MessageBus

log = logging.getLogger(__name__)
KEY_SLACK_S = 60  # the SSH key outlives paidUntil a little: the keeper stops the rental first
MAX_AGENT_ERROR = 300  # of the agent's error text, in the provider's message
SETUP_FAILED = "setup failed"  # cancel_reason prefix of a rental whose grant failed
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


def grant_for(rental: Rental, rules: MarketRules) -> AccessGrant:
    """The first grant of a funded rental: its key lives until the prepaid time could end at
    the latest (accepted at the end of the accept timeout), plus a little slack."""
    lifetime = rental.duration_s + KEY_SLACK_S + rules.accept_timeout_s
    funded_at = present(rental.funded_at, f"funding time of rental {rental.id}")
    return grant_until(rental, funded_at + lifetime)


def grant_until(rental: Rental, expires_at: int) -> AccessGrant:
    """A grant of the rental's instance until ``expires_at`` (for a running instance: its
    new deadline)."""
    return AccessGrant(
        rental_id=stored_id(rental),
        machine_id=rental.machine_id,
        public_key=present(rental.public_key, f"public key of rental {rental.id}"),
        expires_at=expires_at,
        instance=request_of(rental),
    )


class Provisioning(Service):
    """Mixed into RentalLifecycle, which brings the escrow, the agents and the bus."""

    escrow: EscrowPort
    agents: AgentGateway
    bus: MessageBus

    async def access_granted(self, rental_id: int, access: AccessInfo) -> None:
        """The agent runs the instance: start billing on chain (start is idempotent here).
        An agent that says it runs other GPUs than the rental's fails the grant instead."""
        async with self.uow() as uow:
            rental = await uow.rentals.get(rental_id)
            if rental is None or rental.state not in (S.FUNDED, S.PROVISIONING):
                return
            held = gpu_uuids(rental)
            if access.gpu_uuids and held and sorted(access.gpu_uuids) != sorted(held):
                wrong = ", ".join(access.gpu_uuids)[:120]
                reason = f"the agent reported GPU {wrong}, not the rented ones"
            else:
                reason = None
                _store_access(rental, access)
                rental.access_granted_at = rental.access_granted_at or self.clock.now()
                await uow.commit()
            escrow_id = rental.escrow_id
        if reason is not None:
            await self.access_failed(rental_id, reason)
            return
        try:
            receipt = await self.escrow.start(
                present(escrow_id, f"escrow id of rental {rental_id}")
            )
        except PaymentError:
            log.exception("start failed for rental %s; the keeper retries", rental_id)
            return
        await self.bus.record(receipt)

    async def access_failed(self, rental_id: int, reason: str) -> None:
        """The agent could not run the instance: refund in full, tell both sides, and take
        the machine off the market until its provider sends /resume."""
        now = self.clock.now()
        async with self.uow() as uow:
            rental = await uow.rentals.get(rental_id)
            if rental is None or rental.state not in (S.FUNDED, S.PROVISIONING):
                return
            if not (rental.cancel_reason or "").startswith(SETUP_FAILED):  # once per rental
                await _failed(uow, rental, reason, now)
                await uow.commit()
        log.warning("grant failed for rental %s: %s", rental_id, _clean(reason)[:200])
        await self.bus.execute(RefundUnstarted.of(rental))


def _store_access(rental: Rental, access: AccessInfo) -> None:
    rental.access_username = access.username
    rental.access_host = access.host
    rental.access_port = access.port
    rental.host_key_fingerprint = access.host_key_fingerprint
    rental.access_ports = [list(p) for p in access.ports] if access.ports else None
    rental.jupyter_port = access.jupyter_port
    rental.jupyter_token = access.jupyter_token


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub(" ", text or "").strip()


async def _failed(uow: UnitOfWork, rental: Rental, reason: str, now: int) -> None:
    kind = failure_kind(reason)
    rental.cancel_reason = f"{SETUP_FAILED}: {kind}"
    machine = present(await uow.machines.get(rental.machine_id), f"machine of rental {rental.id}")
    await take_off_market(uow, machine)
    await refresh_listings(uow, machine, now)
    instance = view_of(rental)
    await enqueue(
        uow,
        SetupFailed(stored_id(rental), kind, instance.image if instance else None),
        user_id=rental.renter_id,
        dedupe_key=f"setupfail:{rental.id}",
        now=now,
    )
    provider = await provider_of(uow, rental)
    error = _clean(reason)
    if len(error) > MAX_AGENT_ERROR:
        error = error[: MAX_AGENT_ERROR - 1] + "…"
    await enqueue(
        uow,
        ProviderGrantFailed(stored_id(rental), machine.name, error or "-"),
        user_id=provider.user_id,
        dedupe_key=f"grantfail:{rental.id}",
        now=now,
    )


def credentials_notice(rental: Rental) -> CredentialsReady:
    """What the credentials message shows (private chats only: it holds the Jupyter token)."""
    instance = view_of(rental)
    granted = f"rental {rental.id}'s granted access:"  # stored before the escrow start
    return CredentialsReady(
        rental_id=stored_id(rental),
        username=present(rental.access_username, f"{granted} user name"),
        host=present(rental.access_host, f"{granted} host"),
        port=present(rental.access_port, f"{granted} port"),
        host_key_fingerprint=present(rental.host_key_fingerprint, f"{granted} host key"),
        paid_until=present(rental.paid_until, f"{granted} paid time"),
        key_generated=rental.key_generated,
        gpu_uuids=tuple(gpu_uuids(rental)),
        image=instance.image if instance else None,
        ports=tuple((container, published) for container, published in rental.access_ports or []),
        jupyter_port=rental.jupyter_port,
        jupyter_token=rental.jupyter_token,
        instance=instance is not None,
        simulated=bool(instance and instance.simulated),
    )


def why_refunded(cancel_reason: str | None) -> str:
    """Why a paid rental never ran, as a catalogue code (notify.provider_why.*)."""
    reason = cancel_reason or ""
    if reason.startswith(SETUP_FAILED):
        return "setup"
    if reason == "provider never provisioned":
        return "never_started"
    if reason.startswith("paid after the hold expired"):
        return "late_payment"
    return "other"
