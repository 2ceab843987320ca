"""``WalletConnectWallet``: core.ports.WalletPort over WalletConnect v2 (the user's own wallet).

A user pairs once (``connect``, or the first ``request_signature``); later requests go straight
to the settled session until it expires or the wallet ends it. Results come back through the
bound ``RentalEvents``: ``wallet_connected`` when a session settles (or the account changes),
``wallet_disconnected`` when the wallet ends it or it expires, ``signature_received`` /
``signature_failed`` for requests ("rejected in the wallet", "the wallet did not answer in
time", "the wallet session ended", ...). Every link also names the one-time signing page
``{public_url}/sign/{request_id}``, which works without WalletConnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from contracts.walletconnect.client import SignClient
from contracts.walletconnect.relay import RelayClient, RelayError
from contracts.walletconnect.session import SIGN_METHODS, Outgoing
from contracts.walletconnect.store import LinkStore, SecretBox
from core.errors import WalletError
from core.ports import Clock, RentalEvents, SignatureRequest, SigningLink

log = logging.getLogger(__name__)
NOT_A_SIGNATURE = "the wallet answered with something that is not a signature"
UNREACHABLE = "WalletConnect cannot be reached right now. Try again in a minute."
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")


class WalletConnectWallet:
    """Implements core.ports.WalletPort; every port method raises WalletError."""

    def __init__(
        self,
        uow: Any,
        clock: Clock,
        *,
        relay_url: str,
        project_id: str,
        chain_id: int | Callable[[], int],
        public_url: str,
        box: SecretBox,
        ssl: ssl_module.SSLContext | None = None,
        sweep_interval: float = 1.0,
        rpc_timeout: float = 10.0,
        connect_wait: float = 10.0,
    ) -> None:
        self.clock = clock
        self.relay_url = relay_url
        self.project_id = project_id
        self._chain_id = chain_id
        self.public_url = public_url.rstrip("/")
        self.ssl = ssl
        self.sweep_interval = sweep_interval
        self.rpc_timeout = rpc_timeout
        self.connect_wait = connect_wait
        self.events: RentalEvents | None = None
        self.store = LinkStore(uow, box, clock)
        metadata = {
            "name": "rigshare",
            "description": "GPU rentals paid from your own wallet",
            "url": self.public_url,
            "icons": [],
        }
        self.client = SignClient(self.store, clock, self, metadata=metadata)
        self.relay: RelayClient | None = None
        self._sweeper: asyncio.Task | None = None

    def bind(self, events: RentalEvents) -> None:
        self.events = events

    @property
    def chain_id(self) -> int:
        return self._chain_id() if callable(self._chain_id) else self._chain_id

    # -- life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Restore the stored sessions and connect to the relay. A relay that cannot be reached
        (or refuses the project id) is logged; the client keeps retrying in the background and
        requests answer WalletError until then. Starting again does nothing."""
        if self._sweeper is not None:
            return
        seed = await self.store.client_seed()
        topics = self.client.restore(await self.store.load())
        self.relay = RelayClient(
            self.relay_url,
            self.project_id,
            seed,
            self.client.feed,
            ssl=self.ssl,
            rpc_timeout=self.rpc_timeout,
        )
        self.relay.topics.update(topics)  # subscribed on (every) connection
        self.client.start(self.relay)
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="walletconnect-sweeper")
        try:
            await self.relay.start(wait=self.connect_wait)
        except RelayError as exc:
            log.error("WalletConnect is not available yet: %s", exc)
        log.info(
            "WalletConnect: relay %s, client %s, %d stored links",
            self.relay_url,
            self.relay.client_id,
            len(self.client.links),
        )

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.client.stop()
        if self.relay is not None:
            await self.relay.stop()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.client.sweep()
            except Exception:
                log.exception("WalletConnect expiry sweep failed")

    # -- WalletPort -------------------------------------------------------------------------------
    def _link(self, request_id: str, wc_uri: str | None, expires_at: int) -> SigningLink:
        return SigningLink(request_id, f"{self.public_url}/sign/{request_id}", wc_uri, expires_at)

    def _check(self, expires_at: int) -> None:
        if expires_at <= self.clock.now():
            raise WalletError("This request has already expired. Please start again.")

    async def connect(self, user_id: int, request_id: str, expires_at: int) -> SigningLink:
        """A new pairing for the user (replacing an old session); ``wallet_connected`` follows
        when the wallet approves. Raises WalletError (relay unreachable, expired request)."""
        self._check(expires_at)
        try:
            uri = await self.client.pair(user_id, self.chain_id, expires_at, request_id)
        except RelayError as exc:
            log.warning("WalletConnect pairing failed: %s", exc)
            raise WalletError(UNREACHABLE) from exc
        return self._link(request_id, uri, expires_at)

    async def disconnect(self, user_id: int) -> None:
        """Delete the user's session (wc_sessionDelete to the wallet, best effort)."""
        await self.client.disconnect(user_id)

    async def request_signature(
        self, user_id: int, request_id: str, request: SignatureRequest, expires_at: int
    ) -> SigningLink:
        """Send the request over the user's session, or pair first (``wc_uri`` set). Raises
        WalletError for an unsupported request, an expired one or an unreachable relay."""
        self._check(expires_at)
        if request.method not in SIGN_METHODS:
            raise WalletError(f"Wallets are not asked for {request.method} here.")
        try:
            payload = json.loads(json.dumps(dict(request.payload)))
        except (TypeError, ValueError) as exc:
            raise WalletError("This request cannot be sent to a wallet.") from exc
        out = Outgoing(request_id, request.method, payload, expires_at)
        try:
            uri = await self.client.request(user_id, self.chain_id, out)
        except ValueError as exc:
            raise WalletError("This request cannot be sent to a wallet.") from exc
        except RelayError as exc:
            log.warning("WalletConnect request failed: %s", exc)
            raise WalletError(UNREACHABLE) from exc
        return self._link(request_id, uri, expires_at)

    # -- extras for operators and tests ------------------------------------------------------------
    async def ping(self, user_id: int, wait: float = 10.0) -> bool:
        """Whether the user's wallet answers a wc_sessionPing within ``wait`` seconds."""
        return await self.client.ping(user_id, wait)

    def session_of(self, user_id: int) -> tuple[str, str, int] | None:
        """(address, wallet name, expiry) of the user's settled session, if any."""
        link = self.client.links.get(user_id)
        s = link.session if link is not None else None
        return None if s is None else (s.address, s.peer_name, s.expiry)

    # -- events from the client (ClientEvents) ---------------------------------------------------
    async def connected(self, user_id: int, request_id: str | None, address: str) -> None:
        if self.events is not None:
            await self.events.wallet_connected(user_id, request_id, address)

    async def disconnected(self, user_id: int, reason: str) -> None:
        if self.events is not None:
            await self.events.wallet_disconnected(user_id, reason)

    async def answered(self, request: Outgoing, result: Any) -> None:
        if not isinstance(result, str) or not _SIGNATURE.fullmatch(result):
            log.warning("wallet answered request with a non-signature %r", str(result)[:80])
            await self.failed(request.request_id, NOT_A_SIGNATURE)
        elif self.events is not None:
            await self.events.signature_received(request.request_id, result)

    async def failed(self, request_id: str, reason: str) -> None:
        if self.events is not None:
            await self.events.signature_failed(request_id, reason)
