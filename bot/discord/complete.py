"""Autocomplete choices: GPU models from the catalogue, durations, the user's rentals.

Choices only help typing; whatever the user sends still goes through the grammar.
"""

from __future__ import annotations

from discord import app_commands

from core.domain.durations import DurationError, format_duration, parse_duration
from core.domain.gpus import all_models, normalize
from core.services.views import RentalRef

MAX_CHOICES = 25
DURATION_PRESETS = ("1h", "3h", "6h", "12h", "1d", "3d", "1w")


def gpu_choices(current: str) -> list[app_commands.Choice[str]]:
    """Catalogue models whose name, key or an alias contains what was typed."""
    typed = normalize(current[:64])
    out = []
    for model in all_models():
        forms = {normalize(model.name), normalize(model.key), *map(normalize, model.aliases)}
        if not typed or any(typed in form for form in forms):
            label = f"{model.name} · {model.vram_gb} GB"
            out.append(app_commands.Choice(name=label, value=model.name))
    return out[:MAX_CHOICES]


def duration_choices(current: str) -> list[app_commands.Choice[str]]:
    """What was typed, when it is a valid duration, then the presets that start with it."""
    typed = current.strip()[:40]
    out = []
    if typed:
        try:
            seconds = parse_duration(typed)
        except DurationError:
            pass
        else:
            out.append(
                app_commands.Choice(name=f"{typed} ({format_duration(seconds)})", value=typed)
            )
    for preset in DURATION_PRESETS:
        if preset != typed and preset.startswith(typed.casefold()):
            out.append(app_commands.Choice(name=preset, value=preset))
    return out[:MAX_CHOICES]


def rental_choices(refs: list[RentalRef], current: str) -> list[app_commands.Choice[str]]:
    """The user's recent rentals ("#12 · RTX 4090 · active") matching what was typed."""
    typed = current.strip().lstrip("#").casefold()
    out = []
    for r in refs:
        count = f"{r.gpu_count}x " if r.gpu_count > 1 else ""
        label = f"#{r.rental_id} · {count}{r.gpu_name} · {r.state.replace('_', ' ')}"
        if not typed or typed in label.casefold():
            out.append(app_commands.Choice(name=label[:100], value=str(r.rental_id)))
    return out[:MAX_CHOICES]


# autocomplete callbacks (free functions: discord.py passes the interaction and the text)


async def gpu_autocomplete(interaction, current: str) -> list[app_commands.Choice[str]]:  # noqa: ANN001
    return gpu_choices(current)


async def duration_autocomplete(interaction, current: str) -> list[app_commands.Choice[str]]:  # noqa: ANN001
    return duration_choices(current)


async def rental_autocomplete(interaction, current: str) -> list[app_commands.Choice[str]]:  # noqa: ANN001
    front = interaction.client.front
    who = await front.who(interaction)
    return rental_choices(await front.app.rentals.recent(who), current)
