"""The wallet of the in-memory chain (``chain=fake``): development wallets whose signatures are
the in-memory escrow's made-up scheme (``rigshare_dev.fakes.escrow.fake_signature``)."""

from __future__ import annotations

import hashlib

from core.ports import SignatureRequest
from rigshare_dev.fakes.escrow import fake_signature
from rigshare_dev.fakes.signatures import personal_payload
from rigshare_dev.wallet import InProcessWallet


def dev_address(user_id: int) -> str:
    return "0x" + hashlib.sha256(f"rigshare-dev-wallet:{user_id}".encode()).hexdigest()[:40]


class FakeWallet(InProcessWallet):
    """Implements core.ports.WalletPort over the in-memory escrow; raises WalletError while
    ``unreachable``."""

    def address_of(self, user_id: int) -> str:
        return dev_address(user_id)

    def sign(self, user_id: int, request: SignatureRequest) -> str:
        address = self.address_of(user_id)
        if request.method == "personal_sign":
            return fake_signature(address, personal_payload(str(request.payload["message"])))
        return fake_signature(address, request.payload)
