"""The committed artifact is exactly what the pinned toolchain builds from the committed sources."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts.artifacts import ARTIFACTS_PATH, compiler_info, contract_names, load_artifact

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
TOOLCHAIN = CONTRACTS / "toolchain"


def _committed() -> dict:
    return json.loads(ARTIFACTS_PATH.read_text(encoding="utf-8"))


def test_our_sources_match_the_artifact_without_node() -> None:
    """Catches a .sol edit without a recompile even where Node is absent."""
    recorded = _committed()["sources"]
    ours = {
        path.relative_to(CONTRACTS).as_posix(): path for path in (CONTRACTS / "src").rglob("*.sol")
    }
    assert set(ours) == {k for k in recorded if k.startswith("src/")}
    for unit, path in ours.items():
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert recorded[unit] == digest, f"{unit} changed: run `bash contracts/compile.sh`"


def test_compiler_and_settings_are_pinned() -> None:
    info = compiler_info()
    assert info["compiler"]["version"].startswith("0.8.37+")
    settings = info["settings"]
    assert settings["evmVersion"] == "cancun"
    assert settings["optimizer"] == {"enabled": True, "runs": 10000}
    package = json.loads((TOOLCHAIN / "package.json").read_text())
    lock = json.loads((TOOLCHAIN / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        # an exact version (a pre-release tag is still exact: stablecoin-evm has no other)
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", version), f"{name} must be pinned"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert info["compiler"]["packages"] == {
        name: package["dependencies"][name] for name in ("@openzeppelin/contracts", "solc")
    }


def test_artifact_has_every_contract_with_code() -> None:
    assert contract_names() == [
        "FeeOnTransferToken",
        "MockContractWallet",
        "MockUSDC",
        "ReentrantToken",
        "RentalEscrow",
    ]
    escrow = load_artifact("RentalEscrow")
    assert escrow.source == "src/RentalEscrow.sol"
    assert escrow.bytecode.startswith("0x6") and len(escrow.deployed_bytecode) > 1000
    assert (len(escrow.deployed_bytecode) - 2) // 2 <= 24_576  # EIP-170 code-size limit


def test_recompiling_reproduces_the_committed_artifact(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot recompile (CI has node)")
    out = tmp_path / "artifacts.json"
    result = subprocess.run(  # noqa: S603 - fixed command
        ["bash", str(CONTRACTS / "compile.sh"), "--out", str(out)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rebuilt = json.loads(out.read_text(encoding="utf-8"))
    committed = _committed()
    assert rebuilt["sources"] == committed["sources"], "sources changed: recompile and commit"
    assert rebuilt == committed, "artifact is stale: run `bash contracts/compile.sh` and commit"
    assert out.read_bytes() == ARTIFACTS_PATH.read_bytes()
