"""``Web3Escrow``: the RentalEscrow contract behind ``core.ports.EscrowPort``, over AsyncWeb3.

The renter signs typed data built by ``contracts.typed_data`` (an EIP-3009 authorization for the
deposit, a Stop with settle, a Dispute); the operator's :class:`~contracts.relayer.Relayer`
submits it and pays gas. Receipts come back as ``ChainReceipt`` with the decoded rental events.
Works over any AsyncWeb3 provider: the in-process development chain, anvil, Polygon.
Every method raises ``contracts.errors.ChainError`` (a ``PaymentError``) with user-facing text.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address
from web3 import AsyncWeb3
from web3.exceptions import Web3Exception
from web3.types import TxReceipt

from contracts import typed_data as td
from contracts.artifacts import load_artifact
from contracts.errors import ChainError, ChainUnavailable, RevertDecoder, Reverted
from contracts.events import EventDecoder
from contracts.relayer import Relayer
from core.errors import PaymentRefused
from core.ports import ChainReceipt, EscrowMinimums, RentalTerms, SignatureRequest

log = logging.getLogger(__name__)
MINIMUMS_TTL_S = 60.0  # the owner may change them: quotes see a change within a minute
# a token's refusal of a payout, for its recipient: Reverted.key -> (code, English words)
TOKEN_REFUSALS = {
    "chain.blocked": ("blocked", "the token issuer blocks the address"),
    "chain.token_paused": ("token_paused", "the token is paused by its issuer"),
    "chain.nothing_to_claim": ("nothing_to_claim", "nothing is parked for the address any more"),
}

STATUS = ("None", "Pending", "Active", "Ended", "Disputed", "Closed")
RENTAL_FIELDS = (
    "status renter provider arbiter deposit pricePerHour feeBps openedAt startedAt paidUntil "
    "endedAt disputedAt deadline"
).split()


def usdc(amount: int) -> str:
    return f"{amount // 10**6}.{amount % 10**6:06d} USDC"


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if len(raw) != 32:
        raise ChainError("That is not a rental id of the escrow.")
    return raw


def _signature(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    except ValueError:
        raw = b""
    if len(raw) != 65:
        raise ChainError("The wallet's signature is malformed; sign again.")
    return raw


def _domain_separator(d: td.Eip712Domain) -> bytes:
    typehash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    words = [
        typehash,
        keccak(text=d.name),
        keccak(text=d.version),
        d.chain_id,
        d.verifying_contract,
    ]
    return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"], words))


class Web3Escrow:
    """Implements core.ports.EscrowPort; call :meth:`connect` once before use."""

    def __init__(
        self,
        w3: AsyncWeb3,
        relayer: Relayer,
        address: str | None = None,
        *,
        expected_chain_id: int | None = None,
        arbiter: Relayer | None = None,
    ) -> None:
        self.w3 = w3
        self.relayer = relayer
        self.arbiter = arbiter  # signs resolve(); the escrow names one arbiter per rental
        self.expected_chain_id = expected_chain_id
        self._address = address
        self.escrow_abi = load_artifact("RentalEscrow").abi
        self.token_abi = load_artifact("MockUSDC").abi  # the ERC-20/3009 subset USDC also has
        relayer.decoder = RevertDecoder((self.escrow_abi, self.token_abi))
        if arbiter is not None:
            arbiter.decoder = relayer.decoder
        self.contract: Any = None
        self.token: Any = None
        self.decoder: EventDecoder | None = None
        self._minimums: EscrowMinimums | None = None
        self._minimums_read_at = float("-inf")
        self.minimums_ttl_s = MINIMUMS_TTL_S

    # -- connection ------------------------------------------------------------------------
    async def connect(self, address: str | None = None) -> None:
        """Read the escrow's chain id, token, fee and timeouts; raises ChainError when there is
        no escrow at the address or the node is on another chain than expected."""
        address = address or self._address
        if not address or not is_address(address):
            raise ChainError("No escrow address is configured (ESCROW_ADDRESS).")
        self._address = to_checksum_address(address)
        try:
            self.chain_id = await self.w3.eth.chain_id
            if self.expected_chain_id is not None and self.chain_id != self.expected_chain_id:
                raise ChainError(
                    f"The node is on chain {self.chain_id}, not {self.expected_chain_id} "
                    "(CHAIN_ID)."
                )
            if not await self.w3.eth.get_code(self._address):
                raise ChainError(f"There is no contract at {self._address} on this chain.")
            c = self.w3.eth.contract(address=self._address, abi=self.escrow_abi)
            self.contract = c
            self.token = self.w3.eth.contract(
                address=await c.functions.token().call(), abi=self.token_abi
            )
            self.fee_bps = int(await c.functions.feeBps().call())
            self.challenge_window = int(await c.functions.CHALLENGE_WINDOW().call())
            self.arbiter_timeout = int(await c.functions.ARBITER_TIMEOUT().call())
            self.accept_timeout = int(await c.functions.ACCEPT_TIMEOUT().call())
            self._minimums = await self._read_minimums()
            self._minimums_read_at = time.monotonic()
            self.token_domain = await self._token_domain()
        except (Web3Exception, OSError) as exc:
            raise ChainUnavailable(f"The escrow at {self._address} cannot be read: {exc}") from exc
        self.domain = td.escrow_domain(self.chain_id, self._address)
        self.decoder = EventDecoder(self.w3, self.escrow_abi, self._address)

    @property
    def address(self) -> str:
        if self.contract is None:
            raise ChainError("The escrow adapter is not connected yet.")
        return self._address

    async def _token_domain(self) -> td.Eip712Domain:
        """The token's EIP-712 domain from the chain (ERC-5267, else name() and version())."""
        f = self.token.functions
        try:
            _, name, version, chain_id, verifying, _, _ = await f.eip712Domain().call()
            return td.Eip712Domain(name, version, chain_id, verifying)
        except Web3Exception:
            domain = td.Eip712Domain(
                await f.name().call(), await f.version().call(), self.chain_id, self.token.address
            )
        separator = await f.DOMAIN_SEPARATOR().call()
        if _domain_separator(domain) != bytes(separator):
            raise ChainError("The token's EIP-712 domain could not be determined.")
        return domain

    # -- what the renter signs ---------------------------------------------------------------
    def _terms(self, terms: RentalTerms) -> td.RentalTerms:
        return td.RentalTerms(
            provider=terms.provider_address,
            price_per_hour=terms.price_per_hour,
            deposit=terms.deposit,
            listing_id=td.listing_id_bytes(terms.listing_id),
            quote_expiry=terms.quote_expiry,
            salt=_bytes32(terms.salt),
        )

    def escrow_id(self, terms: RentalTerms, renter: str) -> str:
        rid = td.rental_id(self._terms(terms), renter, self.chain_id, self.address)
        return "0x" + rid.hex()

    async def prepare_open(self, terms: RentalTerms, renter: str) -> SignatureRequest:
        typed = td.open_authorization(self._terms(terms), renter, self.token_domain, self.address)
        until = datetime.fromtimestamp(terms.quote_expiry, UTC).strftime("%H:%M UTC")
        summary = (
            f"Authorize {usdc(terms.deposit)} into the rigshare escrow {self.address} "
            f"for rental of listing #{terms.listing_id}; valid until {until}"
        )
        eid = self.escrow_id(terms, renter)
        return SignatureRequest("open", "eth_signTypedData_v4", typed, summary, eid)

    async def prepare_extend(
        self, escrow_id: str, renter: str, amount: int, salt: str, valid_before: int
    ) -> SignatureRequest:
        typed = td.extend_authorization(
            _bytes32(escrow_id),
            amount,
            _bytes32(salt),
            valid_before,
            renter,
            self.token_domain,
            self.address,
        )
        summary = f"Authorize {usdc(amount)} more for rental {escrow_id[:10]}…"
        return SignatureRequest("extend", "eth_signTypedData_v4", typed, summary, escrow_id)

    async def prepare_stop(self, escrow_id: str, renter: str, deadline: int) -> SignatureRequest:
        typed = td.stop_message(self.domain, _bytes32(escrow_id), True, deadline)
        summary = f"Stop rental {escrow_id[:10]}… and settle it now"
        return SignatureRequest("stop", "eth_signTypedData_v4", typed, summary, escrow_id)

    async def prepare_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int
    ) -> SignatureRequest:
        typed = td.dispute_message(
            self.domain, _bytes32(escrow_id), _bytes32(evidence_hash), deadline
        )
        summary = f"Dispute rental {escrow_id[:10]}…; the arbiter decides from the evidence"
        return SignatureRequest("dispute", "eth_signTypedData_v4", typed, summary, escrow_id)

    # -- relayed transactions ------------------------------------------------------------------
    async def open(self, terms: RentalTerms, renter: str, signature: str) -> ChainReceipt:
        v, r, s = td.split_signature(_signature(signature))
        fn = self.contract.functions.openWithAuthorization
        call = fn(self._terms(terms).as_tuple(), to_checksum_address(renter), v, r, s)
        try:
            return await self._send(call, "payment")
        except Reverted as exc:
            if exc.error in ("DepositTooSmall", "PrepaidTimeOutOfRange"):
                self._minimums_read_at = float(
                    "-inf"
                )  # the owner raised them: the next quote re-reads
            raise

    async def start(self, escrow_id: str) -> ChainReceipt:
        return await self._send(self.contract.functions.start(_bytes32(escrow_id)), "start")

    async def extend(
        self,
        escrow_id: str,
        renter: str,
        amount: int,
        salt: str,
        valid_before: int,
        signature: str,
    ) -> ChainReceipt:
        v, r, s = td.split_signature(_signature(signature))
        fn = self.contract.functions.extendWithAuthorization
        call = fn(_bytes32(escrow_id), amount, valid_before, _bytes32(salt), v, r, s)
        return await self._send(call, "top-up")

    async def stop_and_settle(
        self, escrow_id: str, renter: str, signature: str, deadline: int
    ) -> ChainReceipt:
        fn = self.contract.functions.stopWithSignature
        call = fn(_bytes32(escrow_id), True, deadline, _signature(signature))
        return await self._send(call, "stop")

    async def stop_expired(self, escrow_id: str) -> ChainReceipt:
        return await self._send(self.contract.functions.stop(_bytes32(escrow_id)), "stop")

    async def finalize(self, escrow_id: str) -> ChainReceipt:
        call = self.contract.functions.finalize(_bytes32(escrow_id))
        return await self._send(call, "settlement")

    async def resolve(self, escrow_id: str, provider_gross: int) -> ChainReceipt:
        if self.arbiter is None:
            raise ChainError("No arbiter key is configured (ARBITER_KEY); finalize decides.")
        call = self.contract.functions.resolve(_bytes32(escrow_id), int(provider_gross))
        receipt = await self.arbiter.send(call, what="dispute decision")
        return self.to_chain_receipt(receipt)

    async def cancel_pending(self, escrow_id: str) -> ChainReceipt:
        call = self.contract.functions.cancelPending(_bytes32(escrow_id))
        return await self._send(call, "refund")

    async def open_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int, signature: str
    ) -> ChainReceipt:
        fn = self.contract.functions.openDisputeWithSignature
        call = fn(
            _bytes32(escrow_id),
            _bytes32(evidence_hash),
            to_checksum_address(signer),
            deadline,
            _signature(signature),
        )
        return await self._send(call, "dispute")

    # -- reads -------------------------------------------------------------------------------
    async def balance_of(self, address: str) -> int:
        """The USDC balance of ``address`` in micro-USDC."""
        return int(await self._read(self.token.functions.balanceOf(to_checksum_address(address))))

    async def minimums(self) -> EscrowMinimums:
        """The escrow's minimums for new rentals, re-read every ``minimums_ttl_s`` (the owner's
        ``setMinimums`` applies to rentals opened after it); the last known ones while the
        node fails."""
        age = time.monotonic() - self._minimums_read_at
        if self._minimums is None or age >= self.minimums_ttl_s:
            try:
                self._minimums = await self._read_minimums()
                self._minimums_read_at = time.monotonic()
            except (Web3Exception, OSError) as exc:
                if self._minimums is None:
                    raise ChainUnavailable(
                        "The payment network did not answer; try again."
                    ) from exc
                log.warning("escrow minimums not re-read (%s); using the last known", exc)
        return self._minimums

    async def _read_minimums(self) -> EscrowMinimums:
        f = self.contract.functions
        return EscrowMinimums(
            min_deposit=int(await f.minDeposit().call()),
            min_prepaid_seconds=int(await f.minPrepaidSeconds().call()),
        )

    async def claimable(self, address: str) -> int:
        """What the escrow holds parked for ``address`` (``claimable``)."""
        call = self.contract.functions.claimable(to_checksum_address(address))
        return int(await self._read(call))

    async def claim_for(self, address: str) -> ChainReceipt:
        """``claimFor(address)`` from the relayer; its dry run turns a certain refusal into
        PaymentRefused naming the token's reason before any gas is spent (ChainError when the
        node fails)."""
        call = self.contract.functions.claimFor(to_checksum_address(address))
        try:
            return await self._send(call, "payout")
        except Reverted as exc:
            code, words = refusal_reason(exc)
            raise PaymentRefused(words, key=code) from exc

    async def rental(self, escrow_id: str) -> dict[str, Any]:
        """``getRental`` by field name, with ``status`` as the contract's status name."""
        values = await self._read(self.contract.functions.getRental(_bytes32(escrow_id)))
        view = dict(zip(RENTAL_FIELDS, values, strict=True))
        view["status"] = STATUS[view["status"]]
        return view

    async def _read(self, call: Any) -> Any:
        try:
            return await call.call()
        except (Web3Exception, OSError) as exc:
            raise ChainUnavailable("The payment network did not answer; try again.") from exc

    async def _send(self, call: Any, what: str) -> ChainReceipt:
        receipt = await self.relayer.send(call, what=what)
        return self.to_chain_receipt(receipt)

    def to_chain_receipt(self, receipt: TxReceipt) -> ChainReceipt:
        """A web3 receipt as the core's ChainReceipt with the escrow's rental events."""
        return ChainReceipt(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=tuple(self.decoder.decode_all(receipt["logs"])),
        )


def refusal_reason(exc: Reverted) -> tuple[str | None, str]:
    """Why the token (or the escrow) refused a claim, for the payee: a known refusal's code
    (texts in the catalogue, ``notify.refusal.*``) and English words; else no code and the
    token's own revert string (``Error(string)``) or the adapter's text."""
    if exc.key in TOKEN_REFUSALS:
        return TOKEN_REFUSALS[exc.key]
    reason = exc.error_args[0] if exc.error == "Error" and exc.error_args else None
    if isinstance(reason, str) and reason.strip():
        return None, reason.strip()[:160]
    return None, exc.user_message
