"""Wallet accounts: link a wallet (proven), show it, forget it; pending signature requests.

``User.wallet_address`` is the core's truth for "which wallet is this user". It is written
only here, from a proven connection (``RentalEvents.wallet_connected``: a settled
WalletConnect session or a personal_sign on the signing page), and cleared by a disconnect.
Every request to a wallet is a ``PendingSignature`` with an unguessable token (192 random
bits), an expiry, and the request itself stored with it so the signing page can show it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

from core.domain.addresses import is_address
from core.domain.model import User, stored_id
from core.domain.signatures import PendingSignature, SignatureKind
from core.errors import NotFound, WalletError
from core.notifications.wallet import WalletConnected, WalletDisconnected
from core.ports import EscrowPort, SignatureRequest, WalletPort
from core.services.base import Service, enqueue, require
from core.services.views import Principal, WalletLinkView, WalletView

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10 * 60  # a pairing nobody scans is dropped after this
ACCOUNT_KINDS = (
    SignatureKind.CONNECT.value,
    SignatureKind.REGISTER.value,
)  # requests about the account, not about a rental


def new_pending(
    user_id: int,
    request: SignatureRequest,
    *,
    now: int,
    expires_at: int,
    signer: str | None,
    rental_id: int | None = None,
    params: dict[str, Any] | None = None,
    request_key: str | None = None,
) -> PendingSignature:
    """A pending signature. ``params`` are what the core needs back with the answer (the
    escrow's relay arguments, the payout address); ``signer`` is the address that must sign
    (None: any, for a connect)."""
    stored = {
        **(params or {}),
        "request": {
            "method": request.method,
            "payload": dict(request.payload),
            "summary": request.summary,
            "signer": signer,
        },
    }
    return PendingSignature(
        token=secrets.token_urlsafe(24),
        user_id=user_id,
        kind=request.kind,
        payload=stored,
        created_at=now,
        expires_at=expires_at,
        rental_id=rental_id,
        request_key=request_key,
    )


def stored_params(pending: PendingSignature) -> dict[str, Any]:
    return pending.params()


def stored_request(pending: PendingSignature) -> dict[str, Any] | None:
    """The request as stored by :func:`new_pending` (None for rows written before it)."""
    request = stored_params(pending).get("request")
    return request if isinstance(request, dict) else None


def challenge(user: User, purpose: str, expires_at: int, address: str | None = None) -> str:
    """The text a wallet signs with personal_sign to prove control of an address: it names
    rigshare, the account, the address, a one-time nonce and the expiry."""
    until = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    who = f"{user.display_name} on {user.platform} (user {user.id})"
    head = (
        f"rigshare: pay my provider earnings for {who} to {address}. I control this address."
        if purpose == "register"
        else f"rigshare: link this wallet to {who}."
    )
    return (
        f"{head}\nNonce: {secrets.token_hex(16)}\nValid until: {until}\n"
        "Signing is free and sends no transaction."
    )


@dataclass(repr=False, eq=False)
class WalletService(Service):
    _: KW_ONLY
    wallet: WalletPort
    escrow: EscrowPort

    async def address_of(self, user_id: int) -> str | None:
        """The user's proven wallet address, or None."""
        async with self.uow(readonly=True) as uow:
            user = await uow.users.get(user_id)
            return user.wallet_address if user else None

    async def account(self, who: Principal) -> WalletView:
        """The user's wallet and USDC balance; PaymentError when the chain cannot be read."""
        address = await self.address_of(who.user_id)
        if address is None:
            return WalletView(None)
        return WalletView(address, await self.escrow.balance_of(address))

    async def connect(self, who: Principal, *, then_confirm: int | None = None) -> WalletLinkView:
        """Start linking a wallet (replacing any other); ``then_confirm`` is a quote to confirm
        as soon as the wallet is linked. Raises WalletError when the wallet relay is
        unreachable (nothing is left pending then)."""
        now = self.clock.now()
        expires = now + CONNECT_TIMEOUT_S
        async with self.uow() as uow:
            user = require(await uow.users.get(who.user_id), NotFound.keyed("users.unknown"))
            request = SignatureRequest(
                kind="connect",
                method="personal_sign",
                payload={"message": challenge(user, "connect", expires)},
                summary="Link this wallet to your rigshare account (free, no transaction)",
            )
            pending = new_pending(
                stored_id(user),
                request,
                now=now,
                expires_at=expires,
                signer=None,
                params={"confirm": then_confirm},
            )
            uow.signatures.add(pending)
            await uow.commit()
        try:
            link = await self.wallet.connect(who.user_id, pending.token, expires)
        except WalletError:
            await self.drop(pending.token)
            raise
        return WalletLinkView(
            "connect",
            pending.token,
            link.url,
            link.wc_uri,
            expires,
            request.summary,
            rental_id=then_confirm,
        )

    async def disconnect(self, who: Principal) -> str | None:
        """Forget the user's wallet (and tell the wallet); returns the address it had.
        The address is cleared even when the wallet cannot be told (it is logged)."""
        try:
            await self.wallet.disconnect(who.user_id)
        except WalletError as exc:
            log.warning("wallet disconnect could not reach the wallet: %s", exc)
        async with self.uow() as uow:
            user = require(await uow.users.get(who.user_id), NotFound.keyed("users.unknown"))
            address, user.wallet_address = user.wallet_address, None
            await uow.commit()
        return address

    async def connected(self, user_id: int, request_id: str | None, address: str) -> int | None:
        """Record the wallet a user proved; returns the quote to confirm now when the
        connect was started by a confirm. An unknown, used, expired or someone else's
        request, or a malformed address, changes nothing (None)."""
        if not is_address(address):
            log.warning("wallet_connected with a malformed address ignored")
            return None
        now = self.clock.now()
        then = None
        async with self.uow() as uow:
            if request_id is not None:
                pending = await uow.signatures.by_token(request_id)
                if (
                    pending is None
                    or pending.kind != SignatureKind.CONNECT
                    or pending.user_id != user_id
                    or not pending.is_pending
                ):
                    log.info("wallet_connected for an unknown or used connect request ignored")
                    return None
                if not pending.sign(now):  # answered too late: expired
                    await uow.commit()
                    return None
                then = stored_params(pending).get("confirm")
            user = await uow.users.get(user_id)
            if user is None:
                return None
            user.wallet_address = address
            await enqueue(
                uow,
                WalletConnected(address),
                user_id=user_id,
                dedupe_key=f"wallet:{user_id}:{request_id or now}:{address.lower()}",
                now=now,
            )
            await uow.commit()
        return then if isinstance(then, int) else None

    async def disconnected(self, user_id: int, reason: str) -> None:
        """The wallet ended the session: tell the user (the address stays for display)."""
        now = self.clock.now()
        async with self.uow() as uow:
            if await uow.users.get(user_id) is None:
                return
            await enqueue(
                uow,
                WalletDisconnected(str(reason)[:200]),
                user_id=user_id,
                dedupe_key=f"wallet-gone:{user_id}:{now}",
                now=now,
            )
            await uow.commit()

    async def drop(self, token: str) -> None:
        """Mark a request that never reached the wallet as failed (nothing else was held)."""
        async with self.uow() as uow:
            pending = await uow.signatures.by_token(token)
            if pending is not None and pending.is_pending:
                pending.fail()
                await uow.commit()
