"""A development wallet per user: auto-connected, signs when approved (or at once)."""

from __future__ import annotations

import hashlib

from core.errors import WalletError
from core.fakes.background import Background
from core.fakes.escrow import fake_signature
from core.ports import RentalEvents, SignatureRequest, SigningLink


def dev_address(user_id: int) -> str:
    return "0x" + hashlib.sha256(f"rigshare-dev-wallet:{user_id}".encode()).hexdigest()[:40]


class FakeWallet:
    """Implements core.ports.WalletPort. ``auto_approve`` signs every request right away."""

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
        self.pending: dict[str, tuple[int, SignatureRequest]] = {}
        self.disconnected: set[int] = set()
        self.unreachable = False

    def bind(self, events: RentalEvents) -> None:
        self.events = events

    async def connected_address(self, user_id: int) -> str | None:
        return None if user_id in self.disconnected else self.address_of(user_id)

    def address_of(self, user_id: int) -> str:
        """The user's development address (subclasses derive real keys)."""
        return dev_address(user_id)

    def sign(self, user_id: int, request: SignatureRequest) -> str:
        """What the wallet answers for ``request`` (subclasses sign real typed data)."""
        return fake_signature(dev_address(user_id), request.payload)

    async def request_signature(
        self, user_id: int, request_id: str, request: SignatureRequest, expires_at: int
    ) -> SigningLink:
        if self.unreachable:
            raise WalletError("Your wallet did not answer. Try again in a minute.")
        self.pending[request_id] = (user_id, request)
        if self.auto_approve:
            self.background.spawn(self.approve(request_id))
        return SigningLink(
            request_id=request_id,
            url=f"{self.base_url}/sign/{request_id}",
            wc_uri=f"wc:{request_id[:16]}@2?relay-protocol=irn&symKey=dev",
            expires_at=expires_at,
        )

    async def approve(self, request_id: str, *, tamper: bool = False) -> None:
        user_id, request = self.pending.pop(request_id)
        signature = self.sign(user_id, request)
        if tamper:
            signature = signature[:-4] + "beef"
        await self.events.signature_received(request_id, signature)

    async def reject(self, request_id: str) -> None:
        self.pending.pop(request_id)
        await self.events.signature_failed(request_id, "rejected in the wallet")
