"""Sends the platform's transactions from the operator (relayer) key over AsyncWeb3.

One nonce at a time under a lock (transactions are then mined concurrently), gas from a dry run
(which also turns a revert into a :class:`~contracts.errors.Reverted` before any gas is spent),
EIP-1559 fees from the latest base fee, the same nonce re-sent with bumped fees while a
transaction is not mined, and the receipt returned only once it is ``confirmations`` blocks deep
and still on the canonical chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception, Web3RPCError
from web3.types import TxReceipt

from contracts.errors import ChainUnavailable, RevertDecoder, Reverted

log = logging.getLogger(__name__)
GWEI = 10**9


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """How the relayer prices and re-prices its transactions."""

    tip_fallback_wei: int = 30 * GWEI  # when the node has no eth_maxPriorityFeePerGas
    base_fee_multiplier: int = 2  # maxFee = base * this + tip: survives a few full blocks
    bump_percent: int = 25  # nodes want >= 10 % more to replace a pending transaction
    max_bumps: int = 4
    mine_timeout_s: float = 45.0  # per attempt, before the fees are bumped
    poll_s: float = 0.5
    gas_margin_percent: int = 25
    # a settlement estimated a block earlier may push one more token transfer (a payee whose
    # share was still 0); only gas used is paid, so headroom is cheap
    gas_margin_flat: int = 40_000


class Relayer:
    """Signs and sends transactions from one key; raises ChainError subclasses only."""

    def __init__(
        self,
        w3: AsyncWeb3,
        account: LocalAccount,
        *,
        confirmations: int = 0,
        fees: FeePolicy | None = None,
        decoder: RevertDecoder | None = None,
        fixed_gas: int | None = None,
        nonce_lock: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        """``fixed_gas``: dry-run with ``eth_call`` on the pending block and send with this
        limit instead of ``eth_estimateGas`` (py-evm estimates in a block stamped with the wall
        clock, not the development chain's clock). ``nonce_lock``: a lock shared with every
        other process that sends from this key (``core.db.mutex``); each send then takes the
        next nonce under it, from the node's count and this process's own."""
        self.w3 = w3
        self.fixed_gas = fixed_gas
        self.account = account
        self.confirmations = confirmations
        self.fees = fees or FeePolicy()
        self.decoder = decoder or RevertDecoder(())
        self.nonce_lock = nonce_lock
        self._lock = asyncio.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self.sent: list[str] = []  # every hash broadcast, replacements included (tests, logs)

    @property
    def address(self) -> str:
        return self.account.address

    async def send(self, call: Any, *, what: str = "transaction") -> TxReceipt:
        """Dry-run, sign, send and wait for ``call`` (a contract function or constructor).

        Raises Reverted when the chain refuses it, ChainUnavailable when the node fails or the
        transaction is not mined after every fee bump.
        """
        try:
            tx = await self._prepare(call)
            receipt = await self._submit(tx, what)
        except Reverted:
            raise
        except (TimeoutError, Web3Exception, OSError) as exc:
            reverted = self.decoder.from_exception(exc)
            if reverted is not None:
                raise reverted from exc
            if "insufficient funds" in str(exc).lower():
                log.error("relayer %s cannot pay for gas: %s", self.address, exc)
                raise ChainUnavailable(
                    "The platform cannot pay the network fee right now; nothing was charged. "
                    "Try again later."
                ) from exc
            log.warning("%s failed at the node: %s", what, exc)
            raise ChainUnavailable(
                "The payment network did not answer; nothing was charged. Try again shortly."
            ) from exc
        if receipt["status"] != 1:
            raise await self._why_reverted(tx, receipt, what)
        return receipt

    async def _why_reverted(self, tx: dict[str, Any], receipt: TxReceipt, what: str) -> Reverted:
        """A transaction that passed its dry run but reverted when mined (the state changed in
        between: the token was paused, an address blocked, the rental moved on). Replaying it
        on the state its block left gives the reason in most such cases; the generic text
        remains only when the replay passes or the node does not say."""
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            await self.w3.eth.call({**replay, "gas": tx["gas"]}, receipt["blockNumber"])
        except ContractLogicError as exc:
            decoded = self.decoder.from_exception(exc)
            if decoded is not None:
                return decoded
        except (Web3Exception, OSError, TimeoutError) as exc:
            log.info("replaying the reverted %s failed: %s", what, exc)
        return Reverted(f"The escrow refused the {what}; nothing was charged.", "", ())

    # -- building ----------------------------------------------------------------------------
    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = await self.w3.eth.chain_id
        return self._chain_id

    async def _prepare(self, call: Any) -> dict[str, Any]:
        placeholder = {
            "from": self.address,
            "chainId": await self.chain_id(),
            "nonce": 0,
            "gas": 1,
            "maxFeePerGas": 1,
            "maxPriorityFeePerGas": 1,
            "value": 0,
        }
        tx = dict(await call.build_transaction(placeholder))
        probe = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            if self.fixed_gas is None:
                gas = await self.w3.eth.estimate_gas(probe)
                margin = gas * self.fees.gas_margin_percent // 100 + self.fees.gas_margin_flat
                tx["gas"] = gas + margin
            else:
                await self.w3.eth.call({**probe, "gas": self.fixed_gas}, "pending")
                tx["gas"] = self.fixed_gas
        except ContractLogicError as exc:
            raise self.decoder.from_exception(exc) or Reverted(str(exc)) from exc
        tx.update(await self._fee_fields())
        return tx

    async def _fee_fields(self) -> dict[str, int]:
        block = await self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        try:
            tip = int(await self.w3.eth.max_priority_fee)
        except (Web3Exception, ValueError):
            tip = self.fees.tip_fallback_wei
        if base is None:  # a chain without EIP-1559: legacy pricing
            return {"gasPrice": int(await self.w3.eth.gas_price)}
        return {
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": int(base) * self.fees.base_fee_multiplier + tip,
        }

    # -- sending -----------------------------------------------------------------------------
    async def _submit(self, tx: dict[str, Any], what: str) -> TxReceipt:
        shared = self.nonce_lock() if self.nonce_lock is not None else contextlib.nullcontext()
        async with self._lock, shared:
            if self._nonce is None or self.nonce_lock is not None:
                # another process may have sent from this key since: ask the node too
                counted = await self.w3.eth.get_transaction_count(self.address, "pending")
                self._nonce = max(counted, self._nonce or 0)
            tx["nonce"] = self._nonce
            try:
                hashes = [await self._broadcast(tx)]
            except Web3RPCError as exc:
                self._nonce = None  # re-read from the node next time
                if "nonce" not in str(exc).lower():
                    raise
                log.info("nonce out of step (%s); re-reading it", exc)
                self._nonce = await self.w3.eth.get_transaction_count(self.address, "pending")
                tx["nonce"] = self._nonce
                hashes = [await self._broadcast(tx)]
            except BaseException:
                self._nonce = None
                raise
            self._nonce += 1
        while True:
            receipt = await self._mined(hashes, tx, what)
            if await self._confirmed(receipt):
                return receipt
            log.warning("%s %s left the canonical chain; waiting again", what, hashes[-1])

    async def _broadcast(self, tx: dict[str, Any]) -> str:
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        try:
            await self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            if "already known" not in str(exc).lower():
                raise
        self.sent.append(tx_hash)
        return tx_hash

    async def _mined(self, hashes: list[str], tx: dict[str, Any], what: str) -> TxReceipt:
        """Wait for any of ``hashes``; bump the fees of ``tx`` after each timeout."""
        for attempt in range(self.fees.max_bumps + 1):
            receipt = await self._wait_any(hashes, self.fees.mine_timeout_s)
            if receipt is not None:
                return receipt
            if attempt == self.fees.max_bumps:
                break
            self._bump(tx)
            try:
                hashes.append(await self._broadcast(tx))
                log.info("%s not mined yet; re-sent with higher fees as %s", what, hashes[-1])
            except Web3RPCError as exc:  # mined meanwhile ("nonce too low") or underpriced
                log.info("fee bump of %s refused: %s", what, exc)
        raise ChainUnavailable(
            "The payment network did not confirm the transaction in time. "
            "It may still go through; check /status in a few minutes."
        )

    def _bump(self, tx: dict[str, Any]) -> None:
        factor = 100 + self.fees.bump_percent
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
            if key in tx:
                tx[key] = tx[key] * factor // 100 + 1

    async def _wait_any(self, hashes: list[str], within_s: float) -> TxReceipt | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        delay = min(0.02, self.fees.poll_s)
        while True:
            for tx_hash in hashes:
                try:
                    return await self.w3.eth.get_transaction_receipt(tx_hash)
                except TransactionNotFound:
                    continue
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.fees.poll_s)

    async def _confirmed(self, receipt: TxReceipt) -> bool:
        """Wait until ``receipt`` is ``confirmations`` deep; False if a reorg dropped it."""
        if self.confirmations == 0:
            return True
        target = receipt["blockNumber"] + self.confirmations
        while await self.w3.eth.block_number < target:  # noqa: ASYNC110 - polling a node
            await asyncio.sleep(self.fees.poll_s)
        try:
            again = await self.w3.eth.get_transaction_receipt(receipt["transactionHash"])
        except TransactionNotFound:
            return False
        return again["blockHash"] == receipt["blockHash"]
