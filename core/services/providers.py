"""Provider use cases (private chat only): register, machines, prices, pause, earnings."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter

from core.domain.addresses import is_address
from core.domain.listings import (
    MAX_PRICE_PER_HOUR,
    MIN_PRICE_PER_HOUR,
    ListingStatus,
    MachineStatus,
)
from core.domain.model import Machine, Provider, stored_id
from core.domain.money import Shown
from core.domain.regions import must_region
from core.domain.regions import shown as shown_region
from core.domain.rentals import RentalState as S
from core.domain.signatures import SignatureKind
from core.errors import Conflict, Forbidden, NotFound, ValidationError, WalletError
from core.notifications import Notification
from core.notifications.wallet import PayoutUpdated, ProviderRegistered, RegisterRefused
from core.ports import Clock, SignatureRequest, SignatureVerifier, WalletPort
from core.services.base import (
    MarketRules,
    Service,
    UnitOfWork,
    UowFactory,
    enqueue,
    present,
    require,
)
from core.services.machine_removal import remove_machine
from core.services.provider_prices import check_plausible_price, no_listing
from core.services.provisioning import why_refunded
from core.services.verification import probeable
from core.services.views import (
    AgentTokenView,
    EarningsView,
    MachineView,
    Notice,
    Principal,
    WalletLinkView,
)
from core.services.wallets import CONNECT_TIMEOUT_S, challenge, new_pending, stored_params

TOKEN_PREFIX = "rsa_"
MAX_MACHINES = 100
_AGENT_AWAY = (MachineStatus.PENDING, MachineStatus.OFFLINE)


def hash_token(token: str) -> str:
    """Agent tokens are stored as SHA-256: a database leak does not leak agent access."""
    return hashlib.sha256(token.encode()).hexdigest()


class ProviderService(Service):
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        rules: MarketRules | None = None,
        *,
        wallet: WalletPort,
        verifier: SignatureVerifier,
    ) -> None:
        super().__init__(uow, clock, rules)
        self.wallet = wallet
        self.verifier = verifier

    remove_machine = remove_machine  # core/services/machine_removal.py

    async def register(self, who: Principal, payout_address: str | None) -> WalletLinkView:
        """Ask the payout wallet to prove itself: a personal_sign of a one-time challenge.
        The user becomes a provider (or the payout address changes) only once the signature
        checks out (:meth:`finish_register`). Without an address the user's linked wallet is
        used. Raises Forbidden outside a private chat, ValidationError for a bad or missing
        address, WalletError when the wallet cannot be reached (nothing is left pending).
        """
        _private_only(who)
        now = self.clock.now()
        expires = now + CONNECT_TIMEOUT_S
        async with self.uow() as uow:
            user = require(await uow.users.get(who.user_id), NotFound.keyed("users.unknown"))
            address = payout_address or user.wallet_address
            if address is None:
                raise ValidationError.keyed("providers.register_args")
            if not is_address(address):
                raise ValidationError.keyed("providers.not_address")
            request = SignatureRequest(
                kind="register",
                method="personal_sign",
                payload={
                    "message": challenge(user, "register", expires, address),
                    "address": address,
                },
                summary=f"Prove you control the payout wallet {address} (free, no transaction)",
            )
            pending = new_pending(
                stored_id(user),
                request,
                now=now,
                expires_at=expires,
                signer=address,
                params={"address": address},
            )
            uow.signatures.add(pending)
            await uow.commit()
        try:
            link = await self.wallet.request_signature(who.user_id, pending.token, request, expires)
        except WalletError:
            async with self.uow() as uow:
                # committed above, and nothing but its answer (which never came) changes it
                row = present(await uow.signatures.by_token(pending.token), "register request")
                row.fail()  # it never reached the wallet: nobody could have answered it
                await uow.commit()
            raise
        return WalletLinkView(
            "register",
            pending.token,
            link.url,
            link.wc_uri,
            expires,
            request.summary,
            address=address,
        )

    async def finish_register(self, request_id: str, signature: str) -> None:
        """The payout wallet answered the challenge. Only a signature by the payout address
        itself registers the provider (or changes its payout address); an expired request,
        something that is not a signature or one by a different wallet changes nothing and
        the user is told why (outbox). Unknown or used requests are ignored."""
        now = self.clock.now()
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(request_id)
            if pending is None or pending.kind != SignatureKind.REGISTER or not pending.is_pending:
                return
            params = stored_params(pending)
            address = params.get("address", "")
            message = (params.get("request") or {}).get("payload", {}).get("message", "")
            signer, reason = None, "expired"
            if pending.expired_at(now):
                pending.expire()
            else:
                signer = self.verifier.recover_message(message, signature)
                reason = "invalid" if signer is None else "other_wallet"
            if signer is None or signer.lower() != address.lower():
                if pending.is_pending:
                    pending.fail()
                await enqueue(
                    uow,
                    RegisterRefused(address, reason, signer),
                    user_id=pending.user_id,
                    dedupe_key=f"register:{request_id}",
                    now=now,
                )
                await uow.commit()
                return
            pending.sign(now)
            provider = await uow.providers.by_user(pending.user_id)
            if provider is None:
                uow.providers.add(Provider(pending.user_id, address, now))
                told: Notification = ProviderRegistered(address)
            else:
                provider.payout_address = address
                told = PayoutUpdated(address)
            await enqueue(
                uow,
                told,
                user_id=pending.user_id,
                dedupe_key=f"register:{request_id}",
                now=now,
            )
            await uow.commit()

    async def add_machine(self, who: Principal, name: str, region: str | None) -> AgentTokenView:
        """Add a machine and return its agent token, shown this once and stored hashed."""
        _private_only(who)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.uow() as uow:
            provider_id = await self._provider_id(uow, who)
            if await uow.machines.by_name(provider_id, name):
                raise Conflict.keyed("providers.machine_exists", name=name)
            if len(await uow.machines.for_provider(provider_id)) >= MAX_MACHINES:
                raise Conflict.keyed("providers.too_many", count=MAX_MACHINES)
            machine = Machine(
                provider_id=provider_id,
                name=name,
                region=must_region(region) if region else "eu",
                agent_token_hash=hash_token(token),
                created_at=self.clock.now(),
            )
            uow.machines.add(machine)
            await uow.commit()
        command = self.rules.agent_command_template.format(
            server=self.rules.server_url, token=token
        )
        return AgentTokenView(stored_id(machine), name, token, command)

    async def rotate_token(self, who: Principal, machine_name: str) -> AgentTokenView:
        """A new agent token; the old one stops working at once. Forbidden, NotFound."""
        _private_only(who)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.uow() as uow:
            machine = await self._machine(uow, who, machine_name)
            await uow.machines.set_token_hash(stored_id(machine), hash_token(token))
            await uow.commit()
        command = self.rules.agent_command_template.format(
            server=self.rules.server_url, token=token
        )
        return AgentTokenView(stored_id(machine), machine.name, token, command)

    async def machines(self, who: Principal) -> list[MachineView]:
        """The provider's machines with their GPUs, listings, uptime and current rental."""
        from core.domain.reliability import is_new_host, uptime_bps

        async with self.uow(readonly=True) as uow:
            provider_id = await self._provider_id(uow, who)
            views = []
            active = {
                r.machine_id: stored_id(r)
                for r in await uow.rentals.for_provider(
                    provider_id, (S.FUNDED, S.PROVISIONING, S.ACTIVE)
                )
            }
            now = self.clock.now()
            for m in await uow.machines.for_provider(provider_id):
                machine_id = stored_id(m)
                listings = await uow.listings.for_machine(machine_id)
                observed = now - m.first_seen_at if m.first_seen_at else 0
                views.append(
                    MachineView(
                        machine_id=machine_id,
                        name=m.name,
                        region=shown_region(m.region),
                        status=m.status,
                        gpus=tuple(g.get("name", "?") for g in m.inventory),
                        listings=tuple(
                            (stored_id(x), x.gpu_model, x.price_per_hour, x.status)
                            for x in listings
                        ),
                        uptime_bps=uptime_bps(m.covered_seconds, observed),
                        reliability_bps=listings[0].reliability_bps if listings else 0,
                        last_heartbeat_at=m.last_heartbeat_at,
                        current_rental_id=active.get(machine_id),
                        # no listing yet: its agent never reported, so it has no score
                        new_host=not listings or is_new_host(observed, listings[0].reliability_bps),
                    )
                )
        return views

    async def set_price(
        self,
        who: Principal,
        machine_name: str,
        price_per_hour: int,
        model: str | None,
        *,
        confirmed: bool = False,
    ) -> Notice:
        """Set the per-GPU-hour price of a machine's listings (of one model if given).

        An implausible price (above PLAUSIBLE_PRICE_PER_HOUR, or PRICE_JUMP_FACTOR times the
        current one) changes nothing unless ``confirmed``: ValidationError with the key
        ``providers.price_confirm``."""
        _private_only(who)
        if not MIN_PRICE_PER_HOUR <= price_per_hour <= MAX_PRICE_PER_HOUR:
            raise ValidationError.keyed(
                "providers.price_range",
                low=Shown(MIN_PRICE_PER_HOUR, "per_hour"),
                high=Shown(MAX_PRICE_PER_HOUR, "per_hour"),
            )
        async with self.uow() as uow:
            machine = await self._machine(uow, who, machine_name)
            listings = [
                x
                for x in await uow.listings.for_machine(stored_id(machine))
                if model is None or x.gpu_model == model
            ]
            if not listings:
                raise no_listing(machine, model)
            if not confirmed:
                check_plausible_price(machine.name, model, price_per_hour, listings)
            for x in listings:
                x.price_per_hour = price_per_hour
                if x.status == ListingStatus.PAUSED and machine.status == MachineStatus.ONLINE:
                    x.move_to(ListingStatus.AVAILABLE)
            await uow.commit()
        return Notice(
            "provider.price_set",
            {"machine": machine.name, "price": price_per_hour, "count": len(listings)},
        )

    async def pause(self, who: Principal, machine_name: str | None, paused: bool) -> Notice:
        """Stop (or resume) offering a machine; a running rental is not affected. Resuming
        also puts a machine back on the market that was taken off because a grant or probe
        failed (``failing``): the provider says it is fixed; a machine the service can probe
        comes back only once its probe passes (``core.services.probes``)."""
        _private_only(who)
        async with self.uow() as uow:
            provider_id = await self._provider_id(uow, who)
            if machine_name is None:
                machines = list(await uow.machines.for_provider(provider_id))
            else:
                machines = [await self._machine(uow, who, machine_name)]
            checking: list[str] = []
            for m in machines:
                if paused:
                    m.status = MachineStatus.PAUSED
                    await uow.listings.set_status_for_machine(
                        stored_id(m),
                        [ListingStatus.AVAILABLE, ListingStatus.OFFLINE, ListingStatus.FAILING],
                        ListingStatus.PAUSED,
                    )
                elif m.status == MachineStatus.FAILING and probeable(m):
                    # back only once the service's own probe passes (core.services.probes)
                    m.probe_requested_at = self.clock.now()
                    checking.append(m.name)
                elif m.status in (MachineStatus.PAUSED, MachineStatus.FAILING):
                    m.status = (
                        MachineStatus.ONLINE if m.last_heartbeat_at else MachineStatus.PENDING
                    )
                    target = (
                        ListingStatus.AVAILABLE
                        if m.status == MachineStatus.ONLINE
                        else ListingStatus.OFFLINE
                    )
                    for x in await uow.listings.for_machine(stored_id(m)):
                        back = x.status in (ListingStatus.PAUSED, ListingStatus.FAILING)
                        if back and x.price_per_hour > 0:
                            x.status = target
            await uow.commit()
        # an agent that is not online offers nothing, whatever /resume says
        waiting = [] if paused else [m.name for m in machines if m.status in _AGENT_AWAY]
        names = ", ".join(m.name for m in machines if m.name not in checking + waiting) or "-"
        also = "_also" if names != "-" else ""  # "offered again now: …" only when some are
        if waiting:
            return Notice(
                f"provider.resume_waiting{also}", {"machines": ", ".join(waiting), "offered": names}
            )
        if checking:
            probing = {"machines": ", ".join(checking), "offered": names}
            return Notice(f"provider.resume_probing{also}", probing)
        return Notice("provider.paused" if paused else "provider.resumed", {"machines": names})

    async def earnings(self, who: Principal) -> EarningsView:
        """What the provider's rentals earned (settled on chain), how much of it the escrow
        still holds (the token refused the transfer), and what is running."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.rentals.for_provider(await self._provider_id(uow, who))
            payouts = await uow.payouts.for_user(who.user_id, "provider")
        done = [r for r in rows if r.state in (S.SETTLED, S.RESOLVED)]
        failed = Counter(
            why_refunded(r.cancel_reason)
            for r in rows
            if r.state == S.CANCELLED and r.funded_at is not None
        )
        return EarningsView(
            failed=tuple(failed.most_common()),
            completed_rentals=len(done),
            active_rentals=sum(1 for r in rows if r.state == S.ACTIVE),
            gross=sum(r.billed or 0 for r in done),
            fees=sum(r.fee or 0 for r in done),
            net=sum(r.provider_net or 0 for r in done),
            held=sum(p.amount for p in payouts if p.status == "held"),
        )

    async def _provider_id(self, uow: UnitOfWork, who: Principal) -> int:
        provider = await uow.providers.by_user(who.user_id)
        if provider is None:
            raise NotFound.keyed("providers.not_provider")
        return stored_id(provider)

    async def _machine(self, uow: UnitOfWork, who: Principal, name: str) -> Machine:
        machine = await uow.machines.by_name(await self._provider_id(uow, who), name)
        if machine is None:
            raise NotFound.keyed("providers.no_machine", name=name[:32])
        return machine


def _private_only(who: Principal) -> None:
    if not who.private_chat:
        raise Forbidden.keyed("providers.private_only")
