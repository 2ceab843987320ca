"""Regions: a fixed vocabulary of where machines stand, with names people type for them.

Broad regions (``eu``, ``us``, ``asia``...) contain narrower ones (``eu-west``...): a search
for a broad region finds machines in it and in every region it contains; a search for a narrow
one finds only that one. A provider names the region of a machine with a code or one of its
names (``deutschland`` is ``eu-central``); anything else is refused with the list of codes.

Machines added before the vocabulary existed keep their free-text region: a known word among
them is found by the searches that cover it, any other is shown as it is.
"""

from __future__ import annotations

from core.domain.durations import quote_input
from core.domain.errors import GrammarError

# code -> the broad region that contains it ("" for a broad one), in the order they are listed
_PARENT: dict[str, str] = {
    "us": "", "us-east": "us", "us-central": "us", "us-west": "us", "ca": "",
    "sa": "",
    "eu": "", "eu-west": "eu", "eu-central": "eu", "eu-north": "eu", "eu-south": "eu",
    "asia": "", "asia-east": "asia", "asia-southeast": "asia", "asia-south": "asia",
    "me": "", "af": "", "oce": "",
}  # fmt: skip

REGIONS: tuple[str, ...] = tuple(_PARENT)

# other words for a code, English and German (folded: lower case, "_" and " " as "-")
_NAMES: dict[str, str] = {
    "usa": "us", "america": "us", "amerika": "us", "us-ost": "us-east", "us-mitte": "us-central",
    "canada": "ca", "kanada": "ca",
    "south-america": "sa", "suedamerika": "sa", "südamerika": "sa", "latam": "sa",
    "europe": "eu", "europa": "eu",
    "west-europe": "eu-west", "westeuropa": "eu-west",
    "central-europe": "eu-central", "mitteleuropa": "eu-central", "eu-mitte": "eu-central",
    "germany": "eu-central", "deutschland": "eu-central", "de": "eu-central",
    "north-europe": "eu-north", "nordeuropa": "eu-north", "eu-nord": "eu-north",
    "south-europe": "eu-south", "suedeuropa": "eu-south", "südeuropa": "eu-south",
    "eu-sued": "eu-south", "eu-süd": "eu-south",
    "asien": "asia", "east-asia": "asia-east", "ostasien": "asia-east", "asia-ost": "asia-east",
    "southeast-asia": "asia-southeast", "suedostasien": "asia-southeast",
    "südostasien": "asia-southeast",
    "south-asia": "asia-south", "suedasien": "asia-south", "südasien": "asia-south",
    "india": "asia-south", "indien": "asia-south",
    "middle-east": "me", "nahost": "me",
    "africa": "af", "afrika": "af",
    "oceania": "oce", "ozeanien": "oce", "australia": "oce", "australien": "oce",
}  # fmt: skip


def _fold(word: str) -> str:
    return "-".join(word.casefold().replace("_", " ").replace("-", " ").split())


def region_code(word: str) -> str | None:
    """The code ``word`` names (a code or a name, any case), or None for an unknown word."""
    folded = _fold(word)
    return folded if folded in _PARENT else _NAMES.get(folded)


def unknown_region(word: str) -> GrammarError:
    """The refusal of a word that names no region, listing the codes."""
    return GrammarError.keyed(
        "regions.unknown",
        region=quote_input(word),
        regions=vocabulary(),
    )


def broad() -> str:
    """The broad codes, as a filter takes them: "us|ca|sa|eu|asia|me|af|oce"."""
    return "|".join(code for code, parent in _PARENT.items() if not parent)


def vocabulary() -> str:
    """Every code, each broad one with the regions it covers, the same in every language:
    "us (us-east, us-central, us-west), ca, sa, eu (eu-west, …), …"."""
    parts = []
    for code, parent in _PARENT.items():
        if parent:
            continue
        inside = [c for c, p in _PARENT.items() if p == code]
        parts.append(f"{code} ({', '.join(inside)})" if inside else code)
    return ", ".join(parts)


def must_region(word: str) -> str:
    """The code ``word`` names; raises GrammarError listing the codes for an unknown word."""
    code = region_code(word)
    if code is None:
        raise unknown_region(word)
    return code


def shown(stored: str) -> str:
    """How a machine's stored region is shown: its code when the vocabulary knows the word
    (a name stored before the vocabulary), else the free text as it is."""
    return region_code(stored) or stored


def stored_words(code: str) -> frozenset[str]:
    """Every stored region a search for ``code`` finds: the code, the regions it contains,
    and the names of all of them (free text of machines added before the vocabulary)."""
    codes = {code} | {c for c, parent in _PARENT.items() if parent == code}
    return frozenset(codes | {name for name, c in _NAMES.items() if c in codes})
