"""Provider use cases (private chat only): register, machines, prices, pause, earnings."""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from core.domain.listings import (
    MAX_PRICE_PER_HOUR,
    MIN_PRICE_PER_HOUR,
    ListingStatus,
    MachineStatus,
)
from core.domain.model import Machine, Provider
from core.domain.money import format_price_per_hour
from core.domain.rentals import RentalState as S
from core.errors import Conflict, Forbidden, NotFound, ValidationError
from core.services.base import Service, UnitOfWork
from core.services.views import AgentTokenView, EarningsView, MachineView, Notice, Principal

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TOKEN_PREFIX = "rsa_"
MAX_MACHINES = 100


def hash_token(token: str) -> str:
    """Agent tokens are stored as SHA-256: a database leak does not leak agent access."""
    return hashlib.sha256(token.encode()).hexdigest()


class ProviderService(Service):
    async def register(self, who: Principal, payout_address: str | None) -> Notice:
        """Make the user a provider paid at ``payout_address``.

        Raises Forbidden outside a private chat, ValidationError for a bad address.
        """
        _private_only(who)
        if payout_address is None:
            raise ValidationError.keyed(
                "providers.register_args", "Send your payout wallet: /register 0xYourAddress"
            )
        if not _ADDRESS.match(payout_address):
            raise ValidationError.keyed(
                "providers.not_address",
                "That is not a wallet address (0x followed by 40 hex digits).",
            )
        async with self.uow() as uow:
            provider = await uow.providers.by_user(who.user_id)
            if provider is None:
                uow.providers.add(Provider(who.user_id, payout_address, self.clock.now()))
                key = "provider.registered"
            else:
                provider.payout_address = payout_address
                key = "provider.payout_updated"
            await uow.commit()
        return Notice(key, {"address": payout_address})

    async def add_machine(self, who: Principal, name: str, region: str | None) -> AgentTokenView:
        """Add a machine and return its agent token, shown this once and stored hashed."""
        _private_only(who)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.uow() as uow:
            provider = await self._provider(uow, who)
            if await uow.machines.by_name(provider.id, name):
                raise Conflict.keyed(
                    "providers.machine_exists",
                    "You already have a machine called '{name}'.",
                    name=name,
                )
            if len(await uow.machines.for_provider(provider.id)) >= MAX_MACHINES:
                raise Conflict.keyed(
                    "providers.too_many",
                    "A provider can have at most {count} machines.",
                    count=MAX_MACHINES,
                )
            machine = Machine(
                provider_id=provider.id,
                name=name,
                region=region or "eu",
                agent_token_hash=hash_token(token),
                created_at=self.clock.now(),
            )
            uow.machines.add(machine)
            await uow.commit()
        command = self.rules.agent_command_template.format(
            server=self.rules.server_url, token=token
        )
        return AgentTokenView(machine.id, name, token, command)

    async def rotate_token(self, who: Principal, machine_name: str) -> AgentTokenView:
        """Give a machine a new agent token; the old one stops working at once.

        Raises Forbidden outside a private chat, NotFound for an unknown machine.
        """
        _private_only(who)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.uow() as uow:
            machine = await self._machine(uow, who, machine_name)
            await uow.machines.set_token_hash(machine.id, hash_token(token))
            await uow.commit()
        command = self.rules.agent_command_template.format(
            server=self.rules.server_url, token=token
        )
        return AgentTokenView(machine.id, machine.name, token, command)

    async def machines(self, who: Principal) -> list[MachineView]:
        """The provider's machines with their GPUs, listings, uptime and current rental."""
        from core.domain.reliability import uptime_bps

        async with self.uow(readonly=True) as uow:
            provider = await self._provider(uow, who)
            views = []
            active = {
                r.machine_id: r.id
                for r in await uow.rentals.for_provider(
                    provider.id, (S.FUNDED, S.PROVISIONING, S.ACTIVE)
                )
            }
            now = self.clock.now()
            for m in await uow.machines.for_provider(provider.id):
                listings = await uow.listings.for_machine(m.id)
                observed = now - m.first_seen_at if m.first_seen_at else 0
                views.append(
                    MachineView(
                        machine_id=m.id,
                        name=m.name,
                        region=m.region,
                        status=m.status,
                        gpus=tuple(g.get("name", "?") for g in json.loads(m.inventory_json)),
                        listings=tuple(
                            (x.id, x.gpu_model, x.price_per_hour, x.status) for x in listings
                        ),
                        uptime_bps=uptime_bps(m.covered_seconds, observed),
                        reliability_bps=listings[0].reliability_bps if listings else 0,
                        last_heartbeat_at=m.last_heartbeat_at,
                        current_rental_id=active.get(m.id),
                    )
                )
        return views

    async def set_price(
        self, who: Principal, machine_name: str, price_per_hour: int, model: str | None
    ) -> Notice:
        """Set the per-GPU-hour price of a machine's listings (of one model if given)."""
        _private_only(who)
        if not MIN_PRICE_PER_HOUR <= price_per_hour <= MAX_PRICE_PER_HOUR:
            raise ValidationError(
                f"Prices go from {format_price_per_hour(MIN_PRICE_PER_HOUR)} to "
                f"{format_price_per_hour(MAX_PRICE_PER_HOUR)}."
            )
        async with self.uow() as uow:
            machine = await self._machine(uow, who, machine_name)
            listings = [
                x
                for x in await uow.listings.for_machine(machine.id)
                if model is None or x.gpu_model == model
            ]
            if not listings:
                raise NotFound.keyed(
                    "providers.no_listing",
                    "'{machine}' has no such GPUs listed yet; start its agent first.",
                    machine=machine.name,
                )
            for x in listings:
                x.price_per_hour = price_per_hour
                if x.status == ListingStatus.PAUSED and machine.status == MachineStatus.ONLINE:
                    x.status = ListingStatus.AVAILABLE
            await uow.commit()
        return Notice(
            "provider.price_set",
            {"machine": machine.name, "price": price_per_hour, "count": len(listings)},
        )

    async def pause(self, who: Principal, machine_name: str | None, paused: bool) -> Notice:
        """Stop (or resume) offering a machine; a running rental is not affected."""
        _private_only(who)
        async with self.uow() as uow:
            provider = await self._provider(uow, who)
            if machine_name is None:
                machines = list(await uow.machines.for_provider(provider.id))
            else:
                machines = [await self._machine(uow, who, machine_name)]
            for m in machines:
                if paused:
                    m.status = MachineStatus.PAUSED
                    await uow.listings.set_status_for_machine(
                        m.id, [ListingStatus.AVAILABLE, ListingStatus.OFFLINE], ListingStatus.PAUSED
                    )
                elif m.status == MachineStatus.PAUSED:
                    m.status = (
                        MachineStatus.ONLINE if m.last_heartbeat_at else MachineStatus.PENDING
                    )
                    target = (
                        ListingStatus.AVAILABLE
                        if m.status == MachineStatus.ONLINE
                        else ListingStatus.OFFLINE
                    )
                    for x in await uow.listings.for_machine(m.id):
                        if x.status == ListingStatus.PAUSED and x.price_per_hour > 0:
                            x.status = target
            await uow.commit()
        names = ", ".join(m.name for m in machines) or "-"
        return Notice("provider.paused" if paused else "provider.resumed", {"machines": names})

    async def earnings(self, who: Principal) -> EarningsView:
        """What the provider's rentals earned (settled on chain) and what is running."""
        async with self.uow(readonly=True) as uow:
            provider = await self._provider(uow, who)
            rows = await uow.rentals.for_provider(provider.id)
        done = [r for r in rows if r.state in (S.SETTLED, S.RESOLVED)]
        return EarningsView(
            completed_rentals=len(done),
            active_rentals=sum(1 for r in rows if r.state == S.ACTIVE),
            gross=sum(r.billed or 0 for r in done),
            fees=sum(r.fee or 0 for r in done),
            net=sum(r.provider_net or 0 for r in done),
        )

    async def _provider(self, uow: UnitOfWork, who: Principal) -> Provider:
        provider = await uow.providers.by_user(who.user_id)
        if provider is None:
            raise NotFound.keyed(
                "providers.not_provider",
                "You are not a provider yet: /register 0xYourPayoutAddress",
            )
        return provider

    async def _machine(self, uow: UnitOfWork, who: Principal, name: str) -> Machine:
        provider = await self._provider(uow, who)
        machine = await uow.machines.by_name(provider.id, name)
        if machine is None:
            raise NotFound.keyed(
                "providers.no_machine",
                "You have no machine called '{name}'. /machines lists them.",
                name=name[:32],
            )
        return machine


def _private_only(who: Principal) -> None:
    if not who.private_chat:
        raise Forbidden.keyed(
            "providers.private_only", "Provider commands work in a private chat with the bot only."
        )
