"""Development wallets inside the service process: one per user, linking when approved and
signing when approved (or at once).

:class:`InProcessWallet` behaves like a WalletConnect wallet seen from the core: ``connect`` hands out a pairing
URI and, once approved, reports ``wallet_connected`` with the user's address; a signature
request goes straight to a linked wallet (``wc_uri`` None) or through a new pairing.
``auto_approve`` answers every request right away (the terminal, ``rigshare run``).
How it signs is its subclasses' business: :class:`DevChainWallet` (the embedded development
chain) signs for real with keys derived from a public development seed;
:class:`rigshare_dev.fakes.wallet.FakeWallet` (``chain=fake``) signs in the in-memory escrow's
made-up scheme.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from bot.background import Background
from core.errors import WalletError
from core.ports import RentalEvents, SignatureRequest, SigningLink

Faucet = Callable[[str, int], Awaitable[None]]


class InProcessWallet:
    """Implements core.ports.WalletPort for every user at once; raises WalletError while
    ``unreachable``. Subclasses say whose address a user has and how a request is signed."""

    def __init__(
        self,
        background: Background,
        *,
        auto_approve: bool = False,
        base_url: str = "http://127.0.0.1:8080",
    ) -> None:
        self.background = background
        self.auto_approve = auto_approve
        self.base_url = base_url
        self.events: RentalEvents | None = None
        self.pending: dict[str, tuple[int, SignatureRequest]] = {}  # signature requests
        self.connects: dict[str, int] = {}  # connect request id -> user id
        self.sessions: set[int] = set()  # users whose wallet is linked right now
        self.unreachable = False

    def bind(self, events: RentalEvents) -> None:
        self.events = events

    def address_of(self, user_id: int) -> str:
        """The user's address in this wallet."""
        raise NotImplementedError

    def sign(self, user_id: int, request: SignatureRequest) -> str:
        """What the wallet answers for ``request`` once the user approves it."""
        raise NotImplementedError

    # -- the port ----------------------------------------------------------------------------
    async def connect(self, user_id: int, request_id: str, expires_at: int) -> SigningLink:
        self._reachable()
        self.sessions.discard(user_id)  # a new pairing replaces the old session
        self.connects[request_id] = user_id
        if self.auto_approve:
            self.background.spawn(self.approve_connect(request_id))
        return self._link(request_id, expires_at, pairing=True)

    async def disconnect(self, user_id: int) -> None:
        self._reachable()
        self.sessions.discard(user_id)

    async def request_signature(
        self, user_id: int, request_id: str, request: SignatureRequest, expires_at: int
    ) -> SigningLink:
        self._reachable()
        self.pending[request_id] = (user_id, request)
        if self.auto_approve:
            self.background.spawn(self.approve(request_id))
        return self._link(request_id, expires_at, pairing=user_id not in self.sessions)

    # -- what the person does in the wallet -------------------------------------------------
    async def approve_connect(self, request_id: str, *, address: str | None = None) -> None:
        """Approve the pairing: the wallet reports its address (``address`` for a test that
        links some other wallet)."""
        user_id = self.connects.pop(request_id)
        self.sessions.add(user_id)
        await self.events.wallet_connected(user_id, request_id, address or self.address_of(user_id))

    async def reject_connect(self, request_id: str) -> None:
        self.connects.pop(request_id)
        await self.events.signature_failed(request_id, "rejected in the wallet")

    async def approve(self, request_id: str, *, tamper: bool = False) -> None:
        user_id, request = self.pending.pop(request_id)
        self.sessions.add(user_id)
        signature = self.sign(user_id, request)
        if tamper:
            signature = signature[:-4] + "beef"
        await self.events.signature_received(request_id, signature)

    async def reject(self, request_id: str) -> None:
        self.pending.pop(request_id)
        await self.events.signature_failed(request_id, "rejected in the wallet")

    async def end_session(self, user_id: int, reason: str = "the wallet ended the session") -> None:
        """The wallet deleted the session (or it expired)."""
        self.sessions.discard(user_id)
        await self.events.wallet_disconnected(user_id, reason)

    # -- helpers -------------------------------------------------------------------------------
    def _reachable(self) -> None:
        if self.unreachable:
            raise WalletError("Your wallet did not answer. Try again in a minute.")

    def _link(self, request_id: str, expires_at: int, *, pairing: bool) -> SigningLink:
        wc_uri = None
        if pairing:  # a real WalletConnect v2 pairing URI: the topic is sha256(symKey)
            key = hashlib.sha256(f"key:{request_id}".encode()).digest()
            topic, key = hashlib.sha256(key).hexdigest(), key.hex()
            wc_uri = f"wc:{topic}@2?expiryTimestamp={expires_at}&relay-protocol=irn&symKey={key}"
        return SigningLink(
            request_id=request_id,
            url=f"{self.base_url}/sign/{request_id}",
            wc_uri=wc_uri,
            expires_at=expires_at,
        )


class DevChainWallet(InProcessWallet):
    """A development wallet per user that signs for real with a real key: EIP-712 typed data
    (``eth_signTypedData_v4``) and EIP-191 messages (``personal_sign``, the payout proof).

    Keys are derived from a development seed and the user id (public: development only). On
    the embedded chain each address is funded with MockUSDC the first time the wallet is
    linked or signs in this process; the renter never needs gas."""

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
