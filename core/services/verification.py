"""A machine's verification as the market sees it: which listings show "verified", when a
probe is due, and how a failed check takes the machine off the market.

Only the service's own probes (``core.services.probes``) verify; nothing an agent reports
does. Simulated hosts and agents that cannot run probes are never verified.
"""

from __future__ import annotations

from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import Machine, MachineProbe, stored_id
from core.domain.verification import (
    PROBE_RETRY_S,
    REPROBE_AFTER_S,
    VERIFIED_FOR_S,
    Endpoint,
    ProbeStatus,
    verified_gpus,
)
from core.services.base import UnitOfWork

PROBED_BACKEND = "container"  # a simulated host has nothing to log into: never verified


def probeable(machine: Machine) -> bool:
    """Whether the service can probe the machine: real instances, an agent that runs probes
    (it says so in its offer), and an advertised host to log in to."""
    if machine.backend != PROBED_BACKEND or not machine.ssh_host or not machine.offer:
        return False
    return bool(machine.offer.get("probes"))


def endpoint_of(machine: Machine) -> Endpoint:
    return Endpoint(machine.ssh_host, machine.ssh_port, machine.host_key_fingerprint)


def current_gpus(machine: Machine, now: int) -> frozenset[str]:
    """The machine's GPUs a passed probe verified and that still count (see
    ``core.domain.verification.verified_gpus``)."""
    if not probeable(machine):
        return frozenset()
    return verified_gpus(machine.verified, machine.verified_until, endpoint_of(machine), now)


async def refresh_listings(uow: UnitOfWork, machine: Machine, now: int) -> None:
    """Each listing of the machine is verified when every GPU it offers was seen by the
    service's probe under the machine's current endpoint, within the pass's validity."""
    good = current_gpus(machine, now)
    gpus = [g for g in await uow.gpus.for_machine(stored_id(machine)) if g.present]
    for listing in await uow.listings.for_machine(stored_id(machine)):
        mine = [g.uuid for g in gpus if g.listing_id == listing.id]
        listing.verified = bool(mine) and all(uuid in good for uuid in mine)


def unverify(machine: Machine) -> None:
    machine.verified_until, machine.verified = None, None


async def take_off_market(uow: UnitOfWork, machine: Machine) -> None:
    """A grant or probe failed here: unverified and off the market (``failing``) until the
    provider's /resume and a passed probe bring it back."""
    unverify(machine)
    if machine.status != MachineStatus.PAUSED:
        machine.status = MachineStatus.FAILING
    await uow.listings.set_status_for_machine(
        stored_id(machine), [ListingStatus.AVAILABLE, ListingStatus.OFFLINE], ListingStatus.FAILING
    )


async def back_on_market(uow: UnitOfWork, machine: Machine) -> bool:
    """A ``failing`` machine whose probe passed (or could not check the GPUs) returns to the
    market with its priced listings. True when it was failing."""
    if machine.status != MachineStatus.FAILING:
        return False
    machine.status = MachineStatus.ONLINE
    for x in await uow.listings.for_machine(stored_id(machine)):
        if x.status == ListingStatus.FAILING and x.price_per_hour > 0:
            x.move_to(ListingStatus.AVAILABLE)
    return True


def probe_due(machine: Machine, last: MachineProbe | None, free_gpus: set[str], now: int) -> bool:
    """Whether to probe ``machine`` now (its free, present GPUs are ``free_gpus``): asked for
    by /resume; or verified more than REPROBE_AFTER_S ago; or some free GPU is not verified
    (new, changed endpoint, expired): at once after a pass, PROBE_RETRY_S after a probe that
    failed or decided nothing."""
    if not free_gpus or not probeable(machine):
        return False
    if machine.probe_requested_at is not None:
        return True
    if machine.status != MachineStatus.ONLINE:
        return False
    good = current_gpus(machine, now)
    if good and free_gpus <= good:
        passed_at = (machine.verified_until or 0) - VERIFIED_FOR_S
        return passed_at + REPROBE_AFTER_S <= now
    if last is None or last.status == ProbeStatus.PASSED:
        return True  # never probed, or what passed no longer covers it (changed, expired)
    # without nvidia-smi nothing changes soon; a probe that failed or yielded: retry sooner
    wait = REPROBE_AFTER_S if last.status == ProbeStatus.UNCHECKED else PROBE_RETRY_S
    return (last.finished_at or last.created_at) + wait <= now
