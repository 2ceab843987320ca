"""Answers from wallets, whichever way they come: WalletConnect or the signing page.

``EventRouter`` implements ``core.ports.RentalEvents``: rental signatures go to the rental
lifecycle, a payout proof to the provider service, a linked wallet to the wallet service (and
then on to the confirm that waited for it). ``SigningPages`` serves the one-time signing
page: it shows a pending request and checks what the page posts back (the signer must be the
expected address) before handing it to the same path as WalletConnect.
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

from core.domain.addresses import is_address
from core.domain.signatures import PendingSignature, SignatureKind, SignatureStatus
from core.notifications.wallet import RequestExpired
from core.ports import AccessInfo, ChainEvent, SignatureVerifier
from core.services.base import Service, UnitOfWork, UowFactory, enqueue
from core.services.views import SigningPageView
from core.services.wallets import stored_request

if TYPE_CHECKING:
    from core.services.lifecycle import RentalLifecycle
    from core.services.providers import ProviderService
    from core.services.rentals import RentalService
    from core.services.wallets import WalletService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class EventRouter:
    """Implements core.ports.RentalEvents for every adapter that reports late results."""

    uow: UowFactory
    verifier: SignatureVerifier
    _: KW_ONLY
    lifecycle: RentalLifecycle
    wallets: WalletService
    rentals: RentalService
    providers: ProviderService

    async def signature_received(self, request_id: str, signature: str) -> None:
        """Route a wallet's signature by the kind of request it answers."""
        async with self.uow(readonly=True) as uow:
            pending = await _peek(uow, request_id)
        if pending is None:
            log.info("ignoring a signature for an unknown request")
            return
        if pending.kind == SignatureKind.REGISTER:
            await self.providers.finish_register(request_id, signature)
        elif pending.kind == SignatureKind.CONNECT:
            # a wallet that answers a connect with a signed challenge proves its address
            request = stored_request(pending) or {}
            message = request.get("payload", {}).get("message", "")
            address = self.verifier.recover_message(message, signature)
            if address is None:
                await self.signature_failed(request_id, "the wallet's signature is not valid")
            else:
                await self.wallet_connected(pending.user_id, request_id, address)
        else:
            await self.lifecycle.signature_received(request_id, signature)

    async def signature_failed(self, request_id: str, reason: str) -> None:
        await self.lifecycle.signature_failed(request_id, reason)

    async def wallet_connected(self, user_id: int, request_id: str | None, address: str) -> None:
        """Record the proven wallet, then run the confirm that waited for it, if any."""
        rental_id = await self.wallets.connected(user_id, request_id, address)
        if rental_id is not None:
            await self.rentals.resume_confirm(user_id, rental_id)

    async def wallet_disconnected(self, user_id: int, reason: str) -> None:
        await self.wallets.disconnected(user_id, reason)

    async def access_granted(self, rental_id: int, access: AccessInfo) -> None:
        await self.lifecycle.access_granted(rental_id, access)

    async def access_failed(self, rental_id: int, reason: str) -> None:
        await self.lifecycle.access_failed(rental_id, reason)

    async def chain_event(self, event: ChainEvent) -> None:
        await self.lifecycle.chain_event(event)


@dataclass(frozen=True, slots=True)
class PageAnswer:
    """What the signing page gets back: ``status`` accepted | unknown | gone | refused."""

    status: str
    message: str


@dataclass(repr=False, eq=False)
class SigningPages(Service):
    """The one-time signing page's use cases (``bot/web/signing.py`` only renders)."""

    _: KW_ONLY
    verifier: SignatureVerifier
    events: EventRouter

    async def page(self, token: str) -> SigningPageView | None:
        """The request behind ``token``; None when there is none (or it cannot be shown)."""
        if not isinstance(token, str) or not 20 <= len(token) <= 64:
            return None
        async with self.uow(readonly=True) as uow:
            pending = await _peek(uow, token)
            user = await uow.users.get(pending.user_id) if pending is not None else None
        request = stored_request(pending) if pending is not None else None
        if pending is None or request is None:
            return None
        if not pending.is_pending:
            state = "expired" if pending.status == SignatureStatus.EXPIRED else "used"
        else:
            state = "expired" if pending.expires_at < self.clock.now() else "pending"
        return SigningPageView(
            token=pending.token,
            user_id=pending.user_id,
            state=state,
            kind=pending.kind,
            method=str(request.get("method", "")),
            payload=dict(request.get("payload") or {}),
            summary=str(request.get("summary", "")),
            signer=request.get("signer"),
            expires_at=pending.expires_at,
            lang=user.lang if user is not None else "en",
        )

    async def submit(self, token: str, signature: str, address: str | None) -> PageAnswer:
        """Check a signature posted by the page, then use it exactly like one that came over
        WalletConnect. A signature that is not valid for this request, or not by the wallet
        that must sign, is refused and changes nothing."""
        view = await self.page(token)
        if view is None:
            return PageAnswer("unknown", "This signing link does not exist.")
        if view.state != "pending":
            return PageAnswer("gone", _GONE[view.state])
        if not isinstance(signature, str) or (address is not None and not is_address(address)):
            return PageAnswer("refused", "The page sent something that is not a signature.")
        if view.method == "eth_signTypedData_v4":
            signer = self.verifier.recover_typed_data(view.payload, signature)
        else:
            signer = self.verifier.recover_message(str(view.payload.get("message", "")), signature)
        if signer is None:
            return PageAnswer("refused", "That is not a valid signature of this request.")
        if address is not None and signer.lower() != address.lower():
            return PageAnswer(
                "refused", f"The signature comes from {signer}, not from the account {address}."
            )
        if view.signer is not None and signer.lower() != view.signer.lower():
            return PageAnswer(
                "refused",
                f"Signed by a different wallet ({signer}). Sign with {view.signer}.",
            )
        if view.kind == SignatureKind.CONNECT:
            await self.events.wallet_connected(view.user_id, token, signer)
        else:
            await self.events.signature_received(token, signature)
        return PageAnswer("accepted", "Signed. Go back to the chat: rigshare confirms there.")


_GONE = {
    "used": "This request was already answered; open the newest link from the chat.",
    "expired": "This request expired. Send the command again in the chat for a new link.",
}


async def expire_requests(uow: UnitOfWork, now: int) -> int:
    """Mark pending requests past their expiry as expired and tell each user (the keeper;
    an expired payment's hold is released by the keeper's hold step in the same pass).
    Returns how many expired."""
    count = 0
    for pending in await uow.signatures.expired(now):
        pending.expire()
        await enqueue(
            uow,
            RequestExpired(pending.kind, pending.rental_id),
            user_id=pending.user_id,
            dedupe_key=f"expired:{pending.token}",
            now=now,
        )
        count += 1
    return count


async def _peek(uow: UnitOfWork, token: str) -> PendingSignature | None:
    return await uow.signatures.get_by_token(token)
