"""A development wallet per user that signs real EIP-712 typed data with a real key.

Keys are derived from a development seed and the user id (public: development only). On the
embedded chain each address is funded with MockUSDC the first time the wallet is used; the
renter never needs gas. Approval is automatic (``auto_approve``) or by the test/terminal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from core.fakes.background import Background
from core.fakes.wallet import FakeWallet
from core.ports import SignatureRequest

Faucet = Callable[[str, int], Awaitable[None]]


class DevChainWallet(FakeWallet):
    """Implements core.ports.WalletPort with real keys; raises WalletError when unreachable."""

    def __init__(
        self,
        background: Background,
        *,
        seed: str,
        faucet: Faucet | None = None,
        faucet_amount: int = 0,
        balance_of: Callable[[str], Awaitable[int]] | None = None,
        auto_approve: bool = False,
        base_url: str = "http://127.0.0.1:8080",
    ) -> None:
        super().__init__(background, auto_approve=auto_approve, base_url=base_url)
        self.seed = seed
        self.faucet = faucet
        self.faucet_amount = faucet_amount
        self.balance_of = balance_of
        self._funded: set[int] = set()

    def account(self, user_id: int) -> LocalAccount:
        return Account.from_key(keccak(text=f"rigshare-dev-wallet:{self.seed}:{user_id}"))

    def address_of(self, user_id: int) -> str:
        return self.account(user_id).address

    def sign(self, user_id: int, request: SignatureRequest) -> str:
        signed = self.account(user_id).sign_typed_data(full_message=dict(request.payload))
        return "0x" + bytes(signed.signature).hex()

    async def connected_address(self, user_id: int) -> str | None:
        """The user's address, funded from the development faucet on first use."""
        address = await super().connected_address(user_id)
        if address is not None and self.faucet is not None and user_id not in self._funded:
            balance = await self.balance_of(address) if self.balance_of else 0
            if balance < self.faucet_amount // 2:
                await self.faucet(address, self.faucet_amount)
            self._funded.add(user_id)
        return address
