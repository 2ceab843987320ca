"""The chain the service processes come and go against: anvil with a fresh escrow.

The test process deploys MockUSDC and the escrow (development timeouts), funds the renters'
development wallets (their addresses follow from DEV_WALLET_SEED and the user id, so they are
known before the users exist) and reads the contract afterwards to reconcile the database
with it. Nothing here writes rentals: only the service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak

from contracts.escrow import Web3Escrow
from tests.contracts.chain_support import USDC, AnvilEscrow, deploy_on_anvil, rpc

DEV_SEED = "rigshare-system-tests"


def dev_wallet_address(user_id: int, seed: str = DEV_SEED) -> str:
    """The development wallet ``rigshare_dev.wallet.DevChainWallet`` uses for ``user_id``."""
    return Account.from_key(keccak(text=f"rigshare-dev-wallet:{seed}:{user_id}")).address


@dataclass
class SystemChain:
    anvil: AnvilEscrow
    escrow: Web3Escrow  # read-only use: getRental, balances, logs

    @classmethod
    async def deploy(cls, anvil_url: str, tag: str) -> SystemChain:
        anvil = await deploy_on_anvil(anvil_url, tag)
        return cls(anvil, await anvil.adapter())

    def settings(self) -> dict[str, str]:
        """The chain part of a service process's environment."""
        a = self.anvil
        return {
            "RPC_URL": a.w3.provider.endpoint_uri,
            "CHAIN_ID": "31337",
            "ESCROW_ADDRESS": a.deployment.escrow,
            "ESCROW_START_BLOCK": str(a.deployment.block),
            "RELAYER_KEY": "0x" + a.operator.key.hex(),
            "CONFIRMATIONS": "0",
            "DEV_WALLET_SEED": DEV_SEED,
        }

    async def fund_users(self, user_ids: range, amount: int = 100 * USDC) -> None:
        for user_id in user_ids:
            await self.anvil.fund(dev_wallet_address(user_id), amount)

    async def balance(self, address: str) -> int:
        return await self.escrow.balance_of(address)

    async def rental(self, escrow_id: str) -> dict[str, Any]:
        return await self.escrow.rental(escrow_id)

    async def events(self) -> list[Any]:
        """Every escrow event since the deployment, decoded, in chain order."""
        logs = await self.anvil.w3.eth.get_logs(
            {
                "address": self.escrow.address,
                "fromBlock": self.anvil.deployment.block,
                "toBlock": "latest",
                "topics": [self.escrow.decoder.topics],
            }
        )
        return list(self.escrow.decoder.decode_all(logs))

    async def mine(self) -> None:
        await rpc(self.anvil.w3, "evm_mine")

    async def close(self) -> None:
        await self.anvil.w3.provider.disconnect()
