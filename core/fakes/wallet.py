"""A development wallet per user: links when approved, signs when approved (or at once).

It behaves like a WalletConnect wallet seen from the core: ``connect`` hands out a pairing
URI and, once approved, reports ``wallet_connected`` with the user's address; a signature
request goes straight to a linked wallet (``wc_uri`` None) or through a new pairing.
``auto_approve`` answers every request right away (the terminal, ``rigshare run``).
"""

from __future__ import annotations

import hashlib

from core.errors import WalletError
from core.fakes.background import Background
from core.fakes.escrow import fake_signature
from core.fakes.signatures import personal_payload
from core.ports import RentalEvents, SignatureRequest, SigningLink


def dev_address(user_id: int) -> str:
    return "0x" + hashlib.sha256(f"rigshare-dev-wallet:{user_id}".encode()).hexdigest()[:40]


class FakeWallet:
    """Implements core.ports.WalletPort; raises WalletError while ``unreachable``."""

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
        """The user's development address (subclasses derive real keys)."""
        return dev_address(user_id)

    def sign(self, user_id: int, request: SignatureRequest) -> str:
        """What the wallet answers for ``request`` (subclasses sign for real)."""
        address = self.address_of(user_id)
        if request.method == "personal_sign":
            return fake_signature(address, personal_payload(str(request.payload["message"])))
        return fake_signature(address, request.payload)

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
