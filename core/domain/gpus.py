"""The GPU catalogue: canonical models, what users type for them, and what NVML reports.

Text is matched case-insensitively, ignoring spaces, dashes and underscores, so "RTX 4090",
"rtx-4090" and "4090" are the same. An alias shared by several models (``a100``) is never
resolved silently: the user is asked to pick one.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from core.domain.durations import quote_input
from core.domain.errors import AmbiguousChoice, GrammarError


@dataclass(frozen=True, slots=True)
class GpuModel:
    key: str  # canonical slug, stored in listings and rentals
    name: str  # display name; resolves back to this model
    vram_gb: int
    aliases: tuple[str, ...] = ()


_CATALOGUE: tuple[GpuModel, ...] = (
    GpuModel("rtx3090", "RTX 3090", 24, ("3090", "rtx 3090", "geforce rtx 3090")),
    GpuModel("rtx4080", "RTX 4080", 16, ("4080", "rtx 4080", "geforce rtx 4080")),
    GpuModel("rtx4090", "RTX 4090", 24, ("4090", "rtx 4090", "geforce rtx 4090")),
    GpuModel("rtx5090", "RTX 5090", 32, ("5090", "rtx 5090", "geforce rtx 5090")),
    GpuModel("rtxa6000", "RTX A6000", 48, ("a6000", "rtx a6000", "quadro a6000")),
    GpuModel("rtx6000ada", "RTX 6000 Ada", 48, ("6000 ada", "rtx 6000 ada")),
    GpuModel("a10", "A10", 24, ("a10",)),
    GpuModel("a40", "A40", 48, ("a40",)),
    GpuModel("l4", "L4", 24, ("l4",)),
    GpuModel("l40", "L40", 48, ("l40",)),
    GpuModel("l40s", "L40S", 48, ("l40s", "l40 s")),
    GpuModel("a100-40gb", "A100 40GB", 40, ("a100", "a100 40", "a100 40gb")),
    GpuModel("a100-80gb", "A100 80GB", 80, ("a100", "a100 80", "a100 80gb")),
    GpuModel("h100", "H100 80GB", 80, ("h100", "h100 80", "h100 80gb")),
    GpuModel("h200", "H200", 141, ("h200", "h200 141gb")),
)

# Vendor words and NVML form-factor words that never tell two catalogue models apart.
_NOISE_TOKENS = frozenset(
    {"nvidia", "geforce", "tesla", "pcie", "sxm", "sxm2", "sxm4", "sxm5", "hbm2e", "hbm3"}
    | {"hbm3e", "generation", "gpu"}
)
_NOISE_PREFIXES = ("nvidia", "geforce", "tesla")
_SEPARATORS = re.compile(r"[\s\-_]+")
_MAX_MATCH_CHARS = 64  # longer text cannot be a model name; skip the fuzzy search


def normalize(text: str) -> str:
    """Fold text to the form aliases are compared in: "GeForce RTX-4090" -> "rtx4090"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    tokens = [t for t in _SEPARATORS.split(folded) if t and t not in _NOISE_TOKENS]
    joined = "".join(tokens)
    stripped = True
    while stripped:  # "geforcertx4090" typed without spaces
        stripped = False
        for prefix in _NOISE_PREFIXES:
            if joined.startswith(prefix) and len(joined) > len(prefix):
                joined, stripped = joined[len(prefix) :], True
    return joined


def _build_index() -> dict[str, tuple[GpuModel, ...]]:
    index: dict[str, list[GpuModel]] = {}
    for model in _CATALOGUE:
        forms = {normalize(model.key), normalize(model.name)}
        for alias in model.aliases:
            base = normalize(alias)
            # "a100 80gb" and "4090 24gb": the memory size narrows a shared alias.
            forms |= {base, f"{base}{model.vram_gb}", f"{base}{model.vram_gb}gb"}
        for form in forms:
            index.setdefault(form, [])
            if model not in index[form]:
                index[form].append(model)
    return {form: tuple(models) for form, models in index.items()}


_INDEX = _build_index()
_BY_KEY = {model.key: model for model in _CATALOGUE}


def all_models() -> tuple[GpuModel, ...]:
    """Every model in the catalogue, in display order."""
    return _CATALOGUE


def get_model(key: str) -> GpuModel | None:
    """The model with canonical ``key``, or None."""
    return _BY_KEY.get(key)


def lookup(text: str) -> tuple[GpuModel, ...]:
    """Every model ``text`` names exactly: none, one, or several for a shared alias."""
    if len(text) > _MAX_MATCH_CHARS:
        return ()
    return _INDEX.get(normalize(text), ())


def resolve_gpu(text: str) -> GpuModel:
    """The one model ``text`` names.

    Raises AmbiguousChoice when several models match (its choices resolve uniquely), and
    GrammarError for unknown text, suggesting the closest model.
    """
    matches = lookup(text)
    shown = quote_input(text)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousChoice.keyed("gpu.ambiguous", text=shown).among([m.name for m in matches])
    if not shown:
        raise GrammarError.keyed("gpu.which")
    close = _suggest(text)
    if close:
        raise GrammarError.keyed(
            "gpu.unknown_close",
            text=shown,
            close=" or ".join(close),
        )
    known = ", ".join(m.name for m in _CATALOGUE[:6])
    raise GrammarError.keyed(
        "gpu.unknown",
        text=shown,
        known=known,
    )


def _suggest(text: str, limit: int = 1) -> list[str]:
    """Display names of the models whose aliases look most like ``text``."""
    if len(text) > _MAX_MATCH_CHARS:
        return []
    close = difflib.get_close_matches(normalize(text), list(_INDEX), n=8, cutoff=0.6)
    names: list[str] = []
    for form in close:
        for model in _INDEX[form]:
            if model.name not in names:
                names.append(model.name)
    return names[:limit]


def model_from_nvml(product_name: str | bytes, memory_mib: int | None = None) -> GpuModel | None:
    """The model an NVML product name reports, or None when it is not in the catalogue.

    "NVIDIA A100-SXM4-80GB" and "NVIDIA H100 80GB HBM3" carry their memory in the name; when
    a name fits several models, ``memory_mib`` (NVML's total memory) picks the closest size.
    """
    if isinstance(product_name, bytes):  # old pynvml versions return bytes
        product_name = product_name.decode("utf-8", errors="replace")
    matches = lookup(product_name)
    if len(matches) == 1:
        return matches[0]
    if not matches or memory_mib is None:
        return None
    return min(matches, key=lambda m: abs(m.vram_gb * 1024 - memory_mib))
