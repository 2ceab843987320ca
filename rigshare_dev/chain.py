"""The embedded development chain: py-evm in process, MockUSDC and the escrow deployed at start.

Blocks are mined on each transaction and stamped with the application's clock (a test's
FakeClock moves the chain with it; the system clock is wall time), so on-chain billing matches
what the services compute. Keys come from public, fixed seeds: they are development keys,
worthless anywhere else. Calls run in a worker thread (py-evm is synchronous), one at a time.

This is the project's one in-process EVM: :func:`in_process_evm` and :func:`revert_payload` are
also what the contract tests' synchronous harness (``tests/contracts/sandbox.py``) runs on.
"""

from __future__ import annotations

import ast
import asyncio
import threading
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import (
    get_default_account_state,
    get_default_genesis_params,
)
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_canonical_address
from eth_utils.exceptions import ValidationError
from web3 import AsyncWeb3, EthereumTesterProvider
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from contracts.deploy import DEV_TIMEOUTS, Deployment, EscrowConfig, deploy_escrow, mint
from contracts.errors import ERROR_STRING
from contracts.relayer import FeePolicy, Relayer
from core.ports import Clock

ROLES = ("deployer", "operator", "arbiter", "treasury")
DEV_FEES = FeePolicy(mine_timeout_s=10.0, poll_s=0.01)
DEV_GAS = 8_000_000  # per transaction; see Relayer(fixed_gas=...)


def dev_account(role: str) -> LocalAccount:
    """The development chain's fixed key for ``role`` (public seed: never hold value with it)."""
    return Account.from_key(keccak(text=f"rigshare-devchain:{role}"))


class _ClockedTesterProvider(AsyncEthereumTesterProvider):
    """eth-tester behind AsyncWeb3: requests run in a thread, reverts come back as JSON-RPC
    errors (as from a real node), and every block is stamped with ``clock``."""

    def __init__(self, tester: EthereumTester, clock: Clock) -> None:
        super().__init__()
        self.ethereum_tester = tester
        self._sync = EthereumTesterProvider(tester)
        self._clock = clock
        self._lock = threading.Lock()
        self._id = 0

    async def make_request(self, method: Any, params: Any) -> Any:
        return await asyncio.to_thread(self._request, method, params)

    def _request(self, method: Any, params: Any) -> Any:
        with self._lock:
            self._id += 1
            self._stamp()
            try:
                return self._sync.make_request(method, params)
            except TransactionFailed as exc:
                return self._error(3, "execution reverted", _revert_hex(exc))
            except ValidationError as exc:
                return self._error(-32000, str(exc), None)

    def _error(self, code: int, message: str, data: str | None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return {"jsonrpc": "2.0", "id": self._id, "error": error}

    def _stamp(self) -> None:
        chain = self.ethereum_tester.backend.chain
        stamp = max(chain.get_canonical_head().timestamp + 1, self._clock.now())
        if chain.header.timestamp != stamp:
            chain.header = chain.header.copy(timestamp=stamp)


def in_process_evm(
    funded: list[str] | tuple[str, ...] = (), *, balance: int = 10**24, timestamp: int | None = None
) -> EthereumTester:
    """A fresh py-evm chain. With ``funded`` addresses, only they hold ether (``balance`` wei
    each) and the genesis block is stamped ``timestamp``; without, eth-tester's own funded test
    accounts and genesis."""
    if not funded:
        return EthereumTester(PyEVMBackend())
    state = get_default_account_state({"balance": balance})
    genesis = get_default_genesis_params({"timestamp": timestamp} if timestamp is not None else {})
    backend = PyEVMBackend(
        genesis_parameters=genesis,
        genesis_state={to_canonical_address(a): state for a in funded},
    )
    return EthereumTester(backend)


def revert_payload(exc: TransactionFailed) -> bytes | str:
    """What a revert carried: the raw revert data, or only the reason string where eth-tester
    decoded a well-formed ``Error(string)`` itself (it reports "execution reverted: <repr of
    the raw bytes>" or "execution reverted: <reason>")."""
    payload = (str(exc.args[0]) if exc.args else "").removeprefix("execution reverted: ")
    if payload.startswith(("b'", 'b"')):
        return ast.literal_eval(payload)
    return payload


def _revert_hex(exc: TransactionFailed) -> str:
    # a decoded reason is encoded back as a node would send it
    payload = revert_payload(exc)
    if isinstance(payload, bytes):
        return "0x" + payload.hex()
    if payload:
        return "0x" + (ERROR_STRING + encode(["string"], [payload])).hex()
    return "0x"


class DevChain:
    """An in-process chain with the escrow deployed by :meth:`start`."""

    def __init__(self, clock: Clock, *, fee_bps: int = 1200) -> None:
        self.clock = clock
        self.fee_bps = fee_bps
        self.accounts = {role: dev_account(role) for role in ROLES}
        funded = [a.address for a in self.accounts.values()]
        self.tester = in_process_evm(funded, timestamp=clock.now() - 600)
        self.w3 = AsyncWeb3(_ClockedTesterProvider(self.tester, clock))
        self.w3.eth.default_account = self.accounts["operator"].address  # pays for eth_call
        self.deployer = self.relayer("deployer")
        self.deployment: Deployment | None = None

    @property
    def operator(self) -> LocalAccount:
        return self.accounts["operator"]

    def relayer(self, role: str = "operator") -> Relayer:
        """A relayer for ``role``'s key, dry-running on the pending block (see DEV_GAS)."""
        return Relayer(self.w3, self.accounts[role], fees=DEV_FEES, fixed_gas=DEV_GAS)

    async def start(self) -> Deployment:
        """Deploy MockUSDC and the escrow (development timeouts: minutes); idempotent."""
        if self.deployment is None:
            a = {role: acct.address for role, acct in self.accounts.items()}
            config = EscrowConfig(
                owner=a["deployer"],
                operator=a["operator"],
                arbiter=a["arbiter"],
                treasury=a["treasury"],
                fee_bps=self.fee_bps,
                **DEV_TIMEOUTS,
            )
            self.deployment = await deploy_escrow(self.deployer, config)
        return self.deployment

    async def fund(self, address: str, amount: int) -> None:
        """Mint ``amount`` micro-USDC to ``address`` (the development faucet)."""
        deployment = await self.start()
        await mint(self.deployer, deployment.token, address, amount)
