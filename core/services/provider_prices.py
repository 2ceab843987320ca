"""What /price refuses and why: a machine without the GPUs asked for, a price that is likely a
slip. Kept apart from the provider service so that it stays one screenful of use cases."""

from __future__ import annotations

from core.domain.gpus import get_model, model_from_nvml
from core.domain.listings import PLAUSIBLE_PRICE_PER_HOUR, PRICE_JUMP_FACTOR
from core.domain.model import Listing, Machine
from core.domain.money import Shown, format_decimal
from core.errors import NotFound, ValidationError


def no_listing(machine: Machine, model: str | None) -> NotFound:
    """Why there is nothing to price: the agent has not reported GPUs yet, or none of the
    model asked for (then the machine's GPUs are named)."""
    gpus = [_gpu_name(str(g.get("name", "?"))) for g in machine.inventory]
    if model is None or not gpus:
        return NotFound.keyed(
            "providers.no_listing",
            machine=machine.name,
        )
    known = get_model(model)
    counts = {name: gpus.count(name) for name in gpus}
    return NotFound.keyed(
        "providers.no_such_gpu",
        machine=machine.name,
        gpu=known.name if known else model,
        gpus=", ".join(f"{n}× {name}" for name, n in counts.items()),
    )


def check_plausible_price(
    name: str, model: str | None, price: int, listings: list[Listing]
) -> None:
    """Refuse (until confirmed) a price that is likely a slip: far above what GPUs rent for,
    or a big jump from the listing's current price."""
    current = max((x.price_per_hour for x in listings), default=0)
    jump = current > 0 and price > current * PRICE_JUMP_FACTOR
    if price <= PLAUSIBLE_PRICE_PER_HOUR and not jump:
        return
    # the command that sets it anyway, for the message and the dispatcher's button
    again = " ".join(w for w in (name, model, format_decimal(price, group=""), "confirm") if w)
    params = {"price": Shown(price, "per_hour"), "machine": name, "again": again}
    if jump and price <= PLAUSIBLE_PRICE_PER_HOUR:
        raise ValidationError.keyed(
            "providers.price_jump",
            factor=PRICE_JUMP_FACTOR,
            current=Shown(current, "per_hour"),
            **params,
        )
    raise ValidationError.keyed(
        "providers.price_high",
        ceiling=Shown(PLAUSIBLE_PRICE_PER_HOUR, "per_hour"),
        **params,
    )


def _gpu_name(nvml_name: str) -> str:
    """The catalogue name ("RTX 4090") of what the agent reported ("NVIDIA GeForce RTX 4090")."""
    model = model_from_nvml(nvml_name)
    return model.name if model else nvml_name[:40]
