"""The committed compiled contracts (``contracts/build/artifacts.json``).

Production and tests load ABIs and bytecode from here; nothing at run time needs Node or solc.
Regenerate the file with ``bash contracts/compile.sh`` after changing ``contracts/src``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_PATH = Path(__file__).resolve().parent / "build" / "artifacts.json"


class ArtifactError(LookupError):
    """The artifact file is missing or has no contract of the requested name."""


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} is missing; run `bash contracts/compile.sh`") from exc


def contract_names(path: Path = ARTIFACTS_PATH) -> list[str]:
    return sorted(_load(path)["contracts"])


def load_artifact(name: str, path: Path = ARTIFACTS_PATH) -> ContractArtifact:
    """ABI and bytecode of contract ``name``; raises :class:`ArtifactError` if there is none."""
    try:
        entry = _load(path)["contracts"][name]
    except KeyError as exc:
        raise ArtifactError(f"no contract {name!r} in {path}") from exc
    return ContractArtifact(
        name=name,
        source=entry["source"],
        abi=entry["abi"],
        bytecode=entry["bytecode"],
        deployed_bytecode=entry["deployedBytecode"],
    )


def compiler_info(path: Path = ARTIFACTS_PATH) -> dict[str, Any]:
    """Compiler version, settings and source hash the artifact was built with."""
    doc = _load(path)
    return {
        "compiler": doc["compiler"],
        "settings": doc["settings"],
        "sourcesHash": doc["sourcesHash"],
    }
