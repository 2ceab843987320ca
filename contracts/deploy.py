"""Deploying the committed artifact: the escrow (and MockUSDC on development chains).

Used by ``rigshare deploy`` against any JSON-RPC node and by the embedded development chain at
start. The deployer pays gas through a :class:`~contracts.relayer.Relayer`; every function raises
``contracts.errors.ChainError`` when the chain refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from eth_utils import to_checksum_address

from contracts.artifacts import load_artifact
from contracts.relayer import Relayer

USDC = 10**6
HOUR, DAY = 3600, 86_400


@dataclass(frozen=True, slots=True)
class EscrowParams:
    """``RentalEscrow.Settings`` after its roles: fee, minimums and timeouts in seconds (the
    defaults are production's), in the order the contract takes them."""

    fee_bps: int = 1200
    min_deposit: int = 1 * USDC
    min_prepaid_seconds: int = 600
    accept_timeout: int = HOUR
    challenge_window: int = DAY
    arbiter_timeout: int = 7 * DAY

    def as_params_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(EscrowParams))


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowConfig(EscrowParams):
    """``RentalEscrow.Settings``: the roles, then the parameters."""

    owner: str
    operator: str
    arbiter: str
    treasury: str

    def as_tuple(self) -> tuple:
        roles = (self.owner, self.operator, self.arbiter, self.treasury)
        return tuple(to_checksum_address(a) for a in roles) + self.as_params_tuple()


# development chains want minutes, not days
DEV_TIMEOUTS = {
    "min_deposit": USDC // 10,
    "accept_timeout": 10 * 60,
    "challenge_window": 10 * 60,
    "arbiter_timeout": HOUR,
}


@dataclass(frozen=True, slots=True)
class Deployment:
    escrow: str
    token: str
    block: int  # the escrow's deployment block: where the chain watcher starts
    tx_hashes: tuple[str, ...]


async def deploy_contract(relayer: Relayer, name: str, *args: object) -> tuple[str, int, str]:
    """Deploy artifact ``name``; return (address, block number, transaction hash)."""
    art = load_artifact(name)
    factory = relayer.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = await relayer.send(factory.constructor(*args), what=f"{name} deployment")
    return (
        receipt["contractAddress"],
        int(receipt["blockNumber"]),
        "0x" + bytes(receipt["transactionHash"]).hex(),
    )


async def deploy_escrow(
    relayer: Relayer, config: EscrowConfig, token: str | None = None
) -> Deployment:
    """Deploy RentalEscrow for ``token``; without a token, deploy MockUSDC (owned by the
    deployer) first: development and test chains only."""
    hashes = []
    if token is None:
        token, _, tx = await deploy_contract(relayer, "MockUSDC", relayer.address)
        hashes.append(tx)
    token = to_checksum_address(token)
    escrow, block, tx = await deploy_contract(relayer, "RentalEscrow", token, config.as_tuple())
    hashes.append(tx)
    return Deployment(escrow, token, block, tuple(hashes))


async def mint(relayer: Relayer, token: str, to: str, amount: int) -> None:
    """MockUSDC only: the owner (``relayer``'s key) mints ``amount`` to ``to``."""
    contract = relayer.w3.eth.contract(
        address=to_checksum_address(token), abi=load_artifact("MockUSDC").abi
    )
    await relayer.send(contract.functions.mint(to_checksum_address(to), amount), what="mint")
