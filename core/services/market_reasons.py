"""Why no listing fits a /rent: one clear reason, found by relaxing the query a step at a time
(only on that failure path), or, for a listing named by number, by checking it directly."""

from __future__ import annotations

from dataclasses import replace

from core.domain.instances import InstanceAsk, share_limits
from core.domain.listings import ListingQuery, ListingStatus
from core.domain.model import Machine, stored_id
from core.errors import CoreError, NoOffer, NotFound, ValidationError
from core.services.base import UnitOfWork, gpu_name, present
from core.services.machine_specs import machine_shape


async def no_offer_reason(uow: UnitOfWork, q: ListingQuery, now: int) -> CoreError:
    """The error to raise when ``q`` found nothing."""
    if q.listing_id is not None:
        return await _listing_reason(uow, q, q.listing_id)
    what = _what(q)
    ask = q.instance
    if not ask.empty and await _finds(uow, replace(q, instance=InstanceAsk()), now):
        if ask.template is not None and not await uow.templates.any_offered(ask.template):
            return ValidationError.keyed(
                "market.unknown_template",
                name=ask.template,
            )
        for part in ("template", "image", "ports", "disk_gb"):
            alone = InstanceAsk(**{part: getattr(ask, part)})
            if getattr(ask, part) and not await _finds(uow, replace(q, instance=alone), now):
                return _instance_reason(part, ask, what, q.model)
        return NoOffer.keyed(
            "market.no_instance",
            what=what,
        )
    need = max(1, q.gpu_count or 1)
    if need > 1 and await _finds(uow, replace(q, gpu_count=1), now):
        return NoOffer.keyed(
            "market.not_enough_gpus",
            count=need,
            gpu=gpu_name(q.model) if q.model else "GPUs",
            model=q.model or "",
        )
    return _no_offer(q)


async def _finds(uow: UnitOfWork, q: ListingQuery, now: int) -> bool:
    return bool(await uow.listings.search(replace(q, limit=1, offset=0), now))


def _what(q: ListingQuery) -> str:
    what = gpu_name(q.model) if q.model else "GPU"
    if q.gpu_count and q.gpu_count > 1:
        what = f"{q.gpu_count}x {what}"
    return what


def _instance_reason(part: str, ask: InstanceAsk, what: str, model: str | None) -> CoreError:
    if part == "template":
        return NoOffer.keyed(
            "market.no_template",
            what=what,
            name=ask.template,
            model=model or "",
        )
    if part == "image":
        return NoOffer.keyed(
            "market.no_registry",
            what=what,
            registry=present(ask.image, "the image that alone finds nothing").registry,
        )
    if part == "ports":
        return NoOffer.keyed(
            "market.no_ports",
            what=what,
            count=len(ask.ports),
        )
    return NoOffer.keyed(
        "market.no_disk",
        what=what,
        disk=ask.disk_gb,
    )


async def _listing_reason(uow: UnitOfWork, q: ListingQuery, ref: int) -> CoreError:
    """Check the listing named by number against the query, in the order a renter would fix
    things: is it there, the GPU model, how many GPUs, the instance, then what is free."""
    listing = await uow.listings.get(ref)
    if listing is None or listing.status != ListingStatus.AVAILABLE or not listing.price_per_hour:
        return NotFound.keyed(
            "market.no_listing",
            listing=ref,
        )
    if q.model and listing.gpu_model != q.model:
        return ValidationError.keyed(
            "market.listing_model",
            listing=ref,
            gpu=gpu_name(listing.gpu_model),
            asked=gpu_name(q.model),
        )
    need = max(1, q.gpu_count or 1)
    if need > listing.gpu_count:
        return ValidationError.keyed(
            "market.listing_gpus",
            listing=ref,
            total=listing.gpu_count,
            count=need,
        )
    machine = await uow.machines.get(listing.machine_id)
    reason = await _machine_reason(uow, machine, q.instance, need, ref)
    if reason is not None:
        return reason
    free = await uow.gpus.free_count(stored_id(listing))
    if free < need:
        return NoOffer.keyed(
            "market.listing_busy",
            listing=ref,
            free=free,
            count=need,
        )
    return NoOffer.keyed(
        "market.listing_filters",
        listing=ref,
    )


async def _machine_reason(
    uow: UnitOfWork, machine: Machine | None, ask: InstanceAsk, need: int, ref: int
) -> CoreError | None:
    if machine is None or machine.backend is None:
        # a machine that offers no instances: fine for a plain rental, not for an instance ask
        if ask.empty:
            return None
        return ValidationError.keyed(
            "market.listing_no_instances",
            listing=ref,
        )
    shape = machine_shape(machine)
    if shape is None:
        return NotFound.keyed(
            "market.no_listing",
            listing=ref,
        )
    if ask.empty:
        if machine.default_template is None:
            return ValidationError.keyed(
                "market.listing_needs_image",
                listing=ref,
            )
        return None
    machine_id = stored_id(machine)
    if ask.template is not None and await uow.templates.get(machine_id, ask.template) is None:
        return ValidationError.keyed(
            "market.listing_template",
            listing=ref,
            name=ask.template,
        )
    if ask.image is not None:
        listed = await uow.templates.by_image(machine_id, ask.image.reference)
        allowed = ask.image.registry in machine.registries.split()
        if listed is None and not (machine.custom_images and allowed):
            return ValidationError.keyed(
                "market.listing_registry",
                listing=ref,
                registry=ask.image.registry,
                allowed=(" ".join(machine.registries.split()) or "its templates only")
                if machine.custom_images
                else "its templates only (/templates #" + str(ref) + ")",
            )
    if len(ask.ports) > machine.max_ports:
        return ValidationError.keyed(
            "market.listing_ports",
            listing=ref,
            max=machine.max_ports,
            count=len(ask.ports),
        )
    if ask.disk_gb:
        disk = share_limits(shape, need).disk_gib
        if disk < ask.disk_gb:
            return ValidationError.keyed(
                "market.listing_disk",
                listing=ref,
                disk=disk,
                count=need,
                asked=ask.disk_gb,
            )
    return None


def _no_offer(q: ListingQuery) -> NoOffer:
    what = _what(q)
    # the hint names what to relax: a price cap, a region, both or neither
    variant = ("price" if q.max_price_per_hour is not None else "") + (
        "_region" if q.region else ""
    )
    key = f"market.no_offer{('.' + variant.strip('_')) if variant else ''}"
    return NoOffer.keyed(key, what=what)
