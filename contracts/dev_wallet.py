"""A development wallet per user that signs for real with a real key: EIP-712 typed data
(``eth_signTypedData_v4``) and EIP-191 messages (``personal_sign``, the payout proof).

Keys are derived from a development seed and the user id (public: development only). On the
embedded chain each address is funded with MockUSDC the first time the wallet is linked or
signs in this process; the renter never needs gas. Approval is automatic (``auto_approve``)
or by the test/terminal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from eth_account import Account
from eth_account.messages import encode_defunct
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
        account = self.account(user_id)
        if request.method == "personal_sign":
            signed = account.sign_message(encode_defunct(text=str(request.payload["message"])))
        else:
            signed = account.sign_typed_data(full_message=dict(request.payload))
        return "0x" + bytes(signed.signature).hex()

    async def approve_connect(self, request_id: str, *, address: str | None = None) -> None:
        user_id = self.connects.get(request_id)
        if user_id is not None and address is None:
            await self._fund(user_id)
        await super().approve_connect(request_id, address=address)

    async def approve(self, request_id: str, *, tamper: bool = False) -> None:
        user_id, request = self.pending.get(request_id, (None, None))
        if user_id is not None and request.method != "personal_sign":  # a payment: fund it
            await self._fund(user_id)
        await super().approve(request_id, tamper=tamper)

    async def _fund(self, user_id: int) -> None:
        """Fund the user's address from the development faucet, once per process."""
        if self.faucet is None or user_id in self._funded:
            return
        address = self.address_of(user_id)
        balance = await self.balance_of(address) if self.balance_of else 0
        if balance < self.faucet_amount // 2:
            await self.faucet(address, self.faucet_amount)
        self._funded.add(user_id)
