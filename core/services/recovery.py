"""Repairs for a service process that died between a commit and the call that follows it.

The lifecycle commits a state change first and then talks to the agents and the escrow (see
``core.services.lifecycle``). A process killed in between leaves a rental that waits for a
call nobody will make; the chain watcher repairs what reached the chain, this pass repairs the
rest. It runs in the keeper (one leader at a time) and touches only rentals whose follow-up is
overdue by ``GRACE_S``, so it does not race a live process that is about to make the call:

- funded, but no grant was ever queued for the agent -> queue the grant;
- the agent's grant result is stored, but the rental never heard of it -> apply it;
- access granted, but the escrow's ``start`` never went through -> start again (the escrow
  refuses a second start; the watcher then mirrors the first);
- ended or closed, but the agent was never told to revoke -> queue the revoke;
- the renter's signed payment or stop was stored but its relay never finished (the process
  died in between) -> relay it again after ``MarketRules.relay_retry_s`` while the rental
  still waits for it; a relay that did reach the chain is refused there and mirrored by the
  watcher instead.

Every step is idempotent; a failing call is logged and retried on the next pass.

``unanswered_requests`` lists the wallet requests still waiting for an answer, for a restarted
process whose wallet adapter keeps its requests in memory (the development wallet).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from core.domain.model import stored_id
from core.domain.rentals import RentalState as S
from core.domain.signatures import SignatureKind
from core.ports import AccessInfo, AgentGateway, Clock, SignatureRequest
from core.services.base import MarketRules, UowFactory
from core.services.isolation import Quarantine
from core.services.provisioning import grant_for
from core.services.settlement import Settlement, SettlementAction
from core.wire import AccessDetails

if TYPE_CHECKING:
    from core.services.lifecycle import RentalLifecycle

log = logging.getLogger(__name__)
GRACE_S = 15  # a live process makes its own follow-up call well within this
REVOKE_WINDOW_S = 86_400  # rentals that ended this recently are checked for a missed revoke
GONE = (S.ENDED, S.DISPUTED, S.SETTLED, S.CANCELLED, S.RESOLVED)
# signed kind -> the state it ends
WAITING = {SignatureKind.OPEN.value: S.AWAITING_PAYMENT, SignatureKind.STOP.value: S.ACTIVE}


@dataclass(frozen=True, slots=True, eq=False)
class Recovery:
    """The keeper's repair pass, with the collaborators whose calls it makes again."""

    uow: UowFactory
    clock: Clock
    rules: MarketRules
    _: KW_ONLY
    agents: AgentGateway
    lifecycle: RentalLifecycle  # applies grant results and relays signed requests again
    settlement: Settlement
    quarantine: Quarantine  # one rental that raises is logged and benched, never fatal

    async def repair(self) -> dict[str, int]:
        """One repair pass; returns how many rentals each step touched."""
        now = self.clock.now()
        counts = dict.fromkeys(("regranted", "grant_results", "restarted", "revoked", "relayed"), 0)
        regrant, results, restart, relay = [], [], [], []
        async with self.uow(readonly=True) as uow:
            for rental in await uow.rentals.in_states((S.PROVISIONING,)):
                grants = [
                    c
                    for c in await uow.agent_commands.for_rental(stored_id(rental))
                    if c.kind == "grant"
                ]
                if not grants:
                    if (rental.funded_at or now) + GRACE_S <= now:
                        regrant.append(rental)
                elif rental.access_granted_at is None:
                    answered = [  # a stale grant's answer is not a result (the keeper refunds)
                        (c.done_at, c.result)
                        for c in grants
                        if c.done_at is not None and c.result and c.done_at <= c.expires_at
                    ]
                    if answered and answered[-1][0] + GRACE_S <= now:
                        results.append((stored_id(rental), answered[-1][1]))
                elif rental.access_granted_at + GRACE_S <= now:
                    restart.append(rental)
            unrevoked = await uow.agent_commands.unrevoked_grants(GONE, now - REVOKE_WINDOW_S)
            for pending in await uow.signatures.signed_unexpired(tuple(WAITING), now):
                stored, params = pending.params(), pending.relay_params()
                signature = stored.get("signature")
                if not isinstance(signature, str) or params is None or pending.rental_id is None:
                    continue
                if int(stored.get("signed_at", now)) + self.rules.relay_retry_s > now:
                    continue  # the process that got it may still be relaying it
                waiting = await uow.rentals.get(pending.rental_id)
                if waiting is not None and waiting.state == WAITING[pending.kind]:
                    relay.append((waiting, pending.kind, params, signature))
        for rental in regrant:
            log.warning("rental %s was funded but never granted; granting now", rental.id)
            try:
                await self.agents.grant(grant_for(rental, self.rules))
            except Exception:
                log.exception("grant for rental %s failed; retried next pass", rental.id)
                continue
            counts["regranted"] += 1
        each = self.quarantine.run
        for rental_id, result in results:
            log.warning("applying the stored grant result of rental %s", rental_id)
            apply = functools.partial(self._apply_result, rental_id, result)
            what = f"repair: grant result of rental {rental_id}"
            counts["grant_results"] += await each(what, ("grant_result", rental_id), apply, 0)
        for rental in restart:
            log.warning("rental %s has access but never started on chain; starting", rental.id)
            start = functools.partial(self.settlement.run, rental, SettlementAction.START)
            what = f"repair: start of rental {rental.id}"
            counts["restarted"] += await each(what, ("start", rental.id), start, 0)
        for rental_id, machine_id in unrevoked:
            log.warning("rental %s ended without a revoke; revoking now", rental_id)
            try:
                await self.agents.revoke(machine_id, rental_id)
            except Exception:
                log.exception("revoke for rental %s failed; retried next pass", rental_id)
                continue
            counts["revoked"] += 1
        for rental, kind, params, signature in relay:
            log.warning(
                "the %s of rental %s was signed but never relayed; relaying", kind, rental.id
            )
            relay_one = functools.partial(self.lifecycle.relay_again, rental, params, signature)
            what = f"repair: relay of the {kind} of rental {rental.id}"
            counts["relayed"] += await each(what, ("relay", rental.id), relay_one, 0)
        return counts

    async def _apply_result(self, rental_id: int, result: dict[str, Any]) -> int:
        try:
            if result.get("ok") is True and result.get("access"):
                details = AccessDetails.model_validate(result["access"])
                await self.lifecycle.access_granted(rental_id, AccessInfo.of(details))
            elif result.get("ok") is False:
                reason = str(result.get("error") or "grant failed")
                await self.lifecycle.access_failed(rental_id, reason)
            else:
                return 0
        except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
            log.exception("stored grant result of rental %s is unreadable", rental_id)
            return 0
        return 1


@dataclass(frozen=True, slots=True)
class UnansweredRequest:
    token: str
    user_id: int
    kind: str
    request: SignatureRequest | None  # None for a wallet connect (nothing to sign yet)
    expires_at: int


async def unanswered_requests(
    uow: UowFactory, now: int, min_age_s: int = 5
) -> list[UnansweredRequest]:
    """Wallet requests still pending and not expired, at least ``min_age_s`` old (younger
    ones belong to a live process that is about to hand them to the wallet)."""
    async with uow(readonly=True) as u:
        rows = await u.signatures.unanswered(now, now - min_age_s)
    out = []
    for row in rows:
        stored = row.params().get("request") or {}
        if not isinstance(stored, dict):
            continue
        request = None
        if row.kind != SignatureKind.CONNECT:
            if not stored.get("method") or not isinstance(stored.get("payload"), dict):
                continue
            request = SignatureRequest(
                kind=row.kind,
                method=stored["method"],
                payload=stored["payload"],
                summary=str(stored.get("summary") or ""),
            )
        out.append(UnansweredRequest(row.token, row.user_id, row.kind, request, row.expires_at))
    return out
