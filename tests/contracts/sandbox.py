"""An in-process EVM (eth-tester + py-evm) with a USDC and RentalEscrow deployed.

The token is MockUSDC (ours) or Circle's real FiatTokenV2_2 behind its proxy (``token="USDC"``,
artifacts from npm: :mod:`tests.contracts.circle_usdc`). Used by the contract tests and by
``python -m tests.bench.gas_report``, on the project's one in-process EVM
(:func:`rigshare_dev.chain.in_process_evm`); it needs the ``web3[tester]`` extra. Accounts are derived from fixed, public seeds: they are test keys, worthless
anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.artifacts import load_artifact
from contracts.deploy import EscrowParams
from contracts.errors import error_string
from contracts.typed_data import (
    Eip712Domain,
    RentalTerms,
    escrow_domain,
    extend_authorization,
    listing_id_bytes,
    open_authorization,
    rental_id,
    split_signature,
)
from rigshare_dev.chain import in_process_evm, revert_payload
from tests.contracts import circle_usdc

USDC = 10**6
HOUR = 3600
DAY = 24 * HOUR

TX_GAS_LIMIT = 8_000_000

MOCK_USDC = "MockUSDC"
CIRCLE_USDC = "USDC"  # FiatTokenV2_2 behind FiatTokenProxy, initialised like mainnet
TOKENS = (MOCK_USDC, CIRCLE_USDC)

# How each token refuses: a custom error of MockUSDC, an Error(string) reason of Circle's token.
TOKEN_REFUSALS = {
    MOCK_USDC: {
        "blocked": "AccountBlocklisted",
        "paused": "EnforcedPause",
        "balance": "ERC20InsufficientBalance",
        "allowance": "ERC20InsufficientAllowance",
        "signature": "ERC3009InvalidSignature",
        "used": "ERC3009UsedAuthorization",
        "expired": "ERC3009InvalidAuthorizationTime",
    },
    CIRCLE_USDC: {
        "blocked": "Blacklistable: account is blacklisted",
        "paused": "Pausable: paused",
        "balance": "ERC20: transfer amount exceeds balance",
        "allowance": "ERC20: transfer amount exceeds allowance",
        "signature": "FiatTokenV2: invalid signature",
        "used": "FiatTokenV2: authorization is used or canceled",
        "expired": "FiatTokenV2: authorization is expired",
    },
}
CIRCLE_ROLES = ("issuer", "usdc_admin", "lost_and_found")

ROLES = (
    "deployer",
    "operator",
    "arbiter",
    "treasury",
    "renter",
    "renter2",
    "provider",
    "provider2",
    "stranger",
)


class Reverted(Exception):
    """A transaction or call reverted; ``data`` is the raw revert data (selector + arguments)."""

    def __init__(self, data: bytes, reason: str = "") -> None:
        super().__init__(reason or "0x" + data.hex())
        self.data = data
        self.reason = reason


def _reverted(exc: TransactionFailed) -> Reverted:
    payload = revert_payload(exc)
    if isinstance(payload, bytes):
        return Reverted(payload, error_string(payload) or "")
    return Reverted(b"", payload)


def error_selector(abi: list[dict[str, Any]], name: str) -> bytes:
    """4-byte selector of custom error ``name`` in ``abi``."""
    for item in abi:
        if item.get("type") == "error" and item["name"] == name:
            sig = f"{name}({','.join(_abi_type(i) for i in item['inputs'])})"
            return keccak(text=sig)[:4]
    raise KeyError(f"no error {name} in ABI")


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


def sandbox_account(name: str) -> LocalAccount:
    """The deterministic sandbox key for role ``name`` (public seed: never hold value with it)."""
    return Account.from_key(keccak(text=f"rigshare-sandbox:{name}"))


class Sandbox:
    """A fresh chain with the mock token and the escrow deployed, plus signing and time helpers."""

    def __init__(
        self,
        params: EscrowParams | None = None,
        roles: Iterable[str] = ROLES,
        token: str = MOCK_USDC,
    ) -> None:
        if token not in TOKENS:
            raise ValueError(f"token must be one of {TOKENS}")
        self.params = params or EscrowParams()
        self.token_name = token
        self.tester = in_process_evm()
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: dict[str, LocalAccount] = {}
        funder = self.w3.eth.accounts[0]
        for name in (*roles, *(CIRCLE_ROLES if token == CIRCLE_USDC else ())):
            self.add_account(name, funder)
        self.w3.eth.default_account = self.addr("deployer")
        if token == CIRCLE_USDC:
            self.token = circle_usdc.deploy_in_sandbox(self)
            self.token_admin = "issuer"
        else:
            self.token = self.deploy("MockUSDC", self.addr("deployer"))
            self.token_admin = "deployer"
        self.escrow = self.deploy_escrow(self.token.address, self.params)

    # ------------------------------------------------------------ accounts

    def add_account(self, name: str, funder: str | None = None) -> LocalAccount:
        acct = sandbox_account(name)
        self.tester.add_account("0x" + acct.key.hex())
        self.w3.eth.send_transaction(
            {"from": funder or self.w3.eth.accounts[0], "to": acct.address, "value": 10**21}
        )
        self.accounts[name] = acct
        return acct

    def addr(self, who: str) -> str:
        """Address of a role name, or ``who`` itself if it already is an address."""
        if who.startswith("0x"):
            return Web3.to_checksum_address(who)
        return self.accounts[who].address

    # ---------------------------------------------------------- contracts

    def deploy(self, name: str, *args: Any, sender: str = "deployer") -> Contract:
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self.send(factory.constructor(*args), sender)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

    def deploy_escrow(self, token: str, params: EscrowParams, sender: str = "deployer") -> Contract:
        settings = (
            self.addr("deployer"),
            self.addr("operator"),
            self.addr("arbiter"),
            self.addr("treasury"),
            *params.as_params_tuple(),
        )
        return self.deploy("RentalEscrow", token, settings, sender=sender)

    def send(self, call: Any, sender: str, gas: int | None = None) -> TxReceipt:
        """Transacts ``call`` from ``sender``; a revert raises :class:`Reverted` with its data.

        A contract function is first run as an ``eth_call`` on the pending block (same timestamp
        as the transaction) and then sent with a fixed gas limit: py-evm's gas estimation is a
        binary search costing a dozen executions.
        """
        tx: dict[str, Any] = {"from": self.addr(sender)}
        try:
            if hasattr(call, "call"):
                call.call(tx, block_identifier="pending")
                tx["gas"] = gas or TX_GAS_LIMIT
            elif gas is not None:
                tx["gas"] = gas
            receipt = self.w3.eth.wait_for_transaction_receipt(call.transact(tx))
        except TransactionFailed as exc:
            raise _reverted(exc) from exc
        if receipt["status"] != 1:
            raise Reverted(b"", "transaction reverted after a successful dry run")
        return receipt

    def call(self, call: Any, sender: str = "stranger") -> Any:
        """Runs a read-only ``call``; a revert raises :class:`Reverted`."""
        try:
            return call.call({"from": self.addr(sender)})
        except TransactionFailed as exc:
            raise _reverted(exc) from exc

    @contextmanager
    def reverts(self, error: str, contract: Contract | None = None) -> Iterator[None]:
        """Asserts the block raises :class:`Reverted` with custom error ``error`` of ``contract``
        (default: the escrow; also looked up in the token's ABI). An ``error`` that is no custom
        error's name but has a space in it is an ``Error(string)`` reason (Circle's token)."""
        abis = [contract.abi] if contract is not None else [self.escrow.abi, self.token.abi]
        selectors = set()
        for abi in abis:
            try:
                selectors.add(error_selector(abi, error))
            except KeyError:
                continue
        if not selectors and " " not in error:
            raise KeyError(f"unknown error {error}")
        try:
            yield
        except Reverted as exc:
            matched = exc.data[:4] in selectors if selectors else exc.reason == error
            if not matched:
                raise AssertionError(f"expected {error}, got revert {exc}") from exc
        else:
            raise AssertionError(f"expected revert {error}, but nothing reverted")

    def token_refusal(self, kind: str) -> str:
        """What this sandbox's token reverts with for ``kind`` (see TOKEN_REFUSALS), for
        :meth:`reverts`."""
        return TOKEN_REFUSALS[self.token_name][kind]

    def events(
        self, receipt: TxReceipt, name: str, contract: Contract | None = None
    ) -> list[dict[str, Any]]:
        """Decoded args of every ``name`` event ``contract`` (default: the escrow) emitted in ``receipt``."""
        c = contract or self.escrow
        return [dict(e["args"]) for e in c.events[name]().process_receipt(receipt, errors=DISCARD)]

    # ---------------------------------------------------------------- time

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def next_timestamp(self) -> int:
        """Timestamp the next transaction will execute at (each transaction mines one block)."""
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def set_next_timestamp(self, ts: int) -> None:
        """Makes the next transaction execute at ``ts`` (>= the pending timestamp)."""
        if ts > self.next_timestamp():
            self.tester.time_travel(ts)

    def advance(self, seconds: int) -> int:
        """Moves the clock ``seconds`` past the latest block; returns the next transaction's time."""
        self.set_next_timestamp(self.now() + seconds)
        return self.next_timestamp()

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snapshot: Any) -> None:
        self.tester.revert_to_snapshot(snapshot)

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """What the block does to the chain is undone afterwards (a what-if, or one example of
        a property test on a shared sandbox)."""
        snap = self.snapshot()
        try:
            yield
        finally:
            self.revert(snap)

    # ----------------------------------------------------------- signatures

    def sign_typed(self, who: str, typed: dict[str, Any]) -> bytes:
        return bytes(self.accounts[who].sign_typed_data(full_message=typed).signature)

    def token_domain(self, token: Contract | None = None) -> Eip712Domain:
        """The token's EIP-712 domain, read from the chain (ERC-5267, else name() and version():
        Circle's token has no eip712Domain())."""
        c = token or self.token
        if any(item.get("name") == "eip712Domain" for item in c.abi):
            _, name, version, chain_id, verifying, _, _ = c.functions.eip712Domain().call()
            return Eip712Domain(name, version, chain_id, verifying)
        f = c.functions
        return Eip712Domain(f.name().call(), f.version().call(), self.w3.eth.chain_id, c.address)

    def escrow_domain(self, escrow: Contract | None = None) -> Eip712Domain:
        return escrow_domain(self.w3.eth.chain_id, (escrow or self.escrow).address)

    # -------------------------------------------------------------- rentals

    def mint(self, who: str, amount: int) -> None:
        self.send(self.token.functions.mint(self.addr(who), amount), self.token_admin)

    def block(self, who: str) -> None:
        """The issuer blocks ``who`` (MockUSDC ``blocklist``, Circle's ``blacklist``)."""
        f = self.token.functions
        call = f.blacklist if self.token_name == CIRCLE_USDC else f.blocklist
        self.send(call(self.addr(who)), self.token_admin)

    def unblock(self, who: str) -> None:
        f = self.token.functions
        call = f.unBlacklist if self.token_name == CIRCLE_USDC else f.unBlocklist
        self.send(call(self.addr(who)), self.token_admin)

    def pause_token(self) -> None:
        """The issuer pauses the token (every transfer, approval and authorization)."""
        self.send(self.token.functions.pause(), self.token_admin)

    def unpause_token(self) -> None:
        self.send(self.token.functions.unpause(), self.token_admin)

    def terms(
        self,
        provider: str = "provider",
        price_per_hour: int = 2 * USDC,
        deposit: int = 6 * USDC,
        listing: int | str = 1,
        expires_in: int = 15 * 60,
        salt: bytes | None = None,
    ) -> RentalTerms:
        return RentalTerms(
            provider=self.addr(provider),
            price_per_hour=price_per_hour,
            deposit=deposit,
            listing_id=listing_id_bytes(listing),
            quote_expiry=self.next_timestamp() + expires_in,
            salt=salt
            if salt is not None
            else keccak(text=f"salt:{self.next_timestamp()}:{listing}:{deposit}"),
        )

    def rental_id(
        self, terms: RentalTerms, renter: str = "renter", escrow: Contract | None = None
    ) -> bytes:
        return rental_id(
            terms, self.addr(renter), self.w3.eth.chain_id, (escrow or self.escrow).address
        )

    def open_by_authorization(
        self, terms: RentalTerms, renter: str = "renter", relayer: str = "operator"
    ) -> tuple[bytes, TxReceipt]:
        """The gasless path: the renter signs, the relayer submits ``openWithAuthorization``."""
        typed = open_authorization(
            terms, self.addr(renter), self.token_domain(), self.escrow.address
        )
        v, r, s = split_signature(self.sign_typed(renter, typed))
        call = self.escrow.functions.openWithAuthorization(
            terms.as_tuple(), self.addr(renter), v, r, s
        )
        receipt = self.send(call, relayer)
        return self.rental_id(terms, renter), receipt

    def extend_by_authorization(
        self,
        rental: bytes,
        amount: int,
        renter: str = "renter",
        relayer: str = "operator",
        valid_for: int = 600,
        salt: bytes | None = None,
    ) -> TxReceipt:
        salt = salt if salt is not None else keccak(text=f"extend:{self.next_timestamp()}:{amount}")
        valid_before = self.next_timestamp() + valid_for
        typed = extend_authorization(
            rental,
            amount,
            salt,
            valid_before,
            self.addr(renter),
            self.token_domain(),
            self.escrow.address,
        )
        v, r, s = split_signature(self.sign_typed(renter, typed))
        call = self.escrow.functions.extendWithAuthorization(
            rental, amount, valid_before, salt, v, r, s
        )
        return self.send(call, relayer)
