"""``ChainWatcher``: mirrors the escrow's rental events into the service, after a confirmation
depth, resumable from a cursor stored in the database.

Only blocks at least ``confirmations`` below the head are read, so a reorg within that depth
never reaches the service. Events go to ``RentalEvents.chain_event`` in chain order; it applies
each exactly once by (tx hash, log index), so a range read again after a crash or restart
changes nothing. The cursor (last block done and its hash) is stored after every range; if that
block's hash changes (a reorg deeper than the depth, or a fresh development chain), the watcher
logs it and reads the last ``rewind`` blocks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from web3.exceptions import BlockNotFound, Web3Exception

from contracts.escrow import Web3Escrow
from core.db.errors import is_transient
from core.errors import CoreError
from core.ports import ChainEvent
from core.services.base import UowFactory
from core.services.isolation import reference

log = logging.getLogger(__name__)
SET_ASIDE_AFTER = 5  # polls an event may fail before the watcher goes on without it
Sink = Callable[[ChainEvent], Awaitable[None]]
BatchSink = Callable[[Sequence[ChainEvent]], Awaitable[object]]


def tx_batches(events: Sequence[ChainEvent], size: int) -> list[Sequence[ChainEvent]]:
    """Chunks of ``size`` events (a little more where needed) that never split the events of
    one transaction: a settlement and the ``PushFailed`` that holds its payout are applied in
    one database transaction, so nobody is told "paid" in between."""
    out, start = [], 0
    while start < len(events):
        end = min(start + max(1, size), len(events))
        while end < len(events) and events[end].tx_hash == events[end - 1].tx_hash:
            end += 1
        out.append(events[start:end])
        start = end
    return out


class ChainWatcher:
    """Follows one escrow; :meth:`poll` catches up once, :meth:`run` keeps following."""

    def __init__(
        self,
        escrow: Web3Escrow,
        sink: Sink,
        uow: UowFactory,
        *,
        confirmations: int,
        start_block: int = 0,
        max_range: int = 2000,
        rewind: int = 64,
        batch_sink: BatchSink | None = None,
        batch_size: int = 200,
    ) -> None:
        """``sink`` applies one event; ``batch_sink`` (optional, faster) applies several in
        one transaction and raises CoreError to refuse them all, after which they go to
        ``sink`` one by one."""
        self.escrow = escrow
        self.sink = sink
        self.batch_sink = batch_sink
        self.batch_size = batch_size
        self.uow = uow
        self.confirmations = confirmations
        self.start_block = start_block
        self.max_range = max_range
        self.rewind = max(rewind, 2 * confirmations)
        self.applied = 0  # events handed to the sink by this instance
        self._failures: dict[tuple[str, int], int] = {}  # (tx hash, log index) -> polls failed
        self._key: str | None = None

    async def cursor_key(self) -> str:
        """Settings key of the cursor: one per chain (genesis hash) and escrow address, at
        most 64 characters (the settings key column) for any chain id up to 10 digits."""
        if self._key is None:
            genesis = await self.escrow.w3.eth.get_block(0)
            chain = bytes(genesis["hash"]).hex()[:8]
            self._key = f"w:{self.escrow.chain_id}:{chain}:{self.escrow.address.lower()}"
        return self._key

    async def cursor(self) -> int:
        """The last block fully handed over (``start_block - 1`` before the first range)."""
        block, _ = await self._load()
        return block

    async def poll(self) -> int:
        """Hand over every confirmed event after the cursor; return how many were handed over.

        Raises web3 errors when the node fails and whatever the sink raises other than a
        CoreError (the cursor then stays where the last complete range left it).
        """
        w3 = self.escrow.w3
        done, known_hash = await self._load()
        if known_hash is not None and not await self._still_canonical(done, known_hash):
            log.error(
                "block %s changed after it was confirmed; re-reading %s blocks", done, self.rewind
            )
            done = max(self.start_block - 1, done - self.rewind)
        safe = await w3.eth.block_number - self.confirmations
        count = 0
        while done < safe:
            upto = min(done + self.max_range, safe)
            logs = await w3.eth.get_logs(
                {
                    "address": self.escrow.address,
                    "fromBlock": done + 1,
                    "toBlock": upto,
                    "topics": [self.escrow.decoder.topics],
                }
            )
            events = self.escrow.decoder.decode_all(logs)
            for batch in tx_batches(events, self.batch_size):
                await self._hand_over(batch)
            count += len(events)
            block = await w3.eth.get_block(upto)
            await self._store(upto, "0x" + bytes(block["hash"]).hex())
            done = upto
        return count

    async def run(self, interval_s: float, stop: asyncio.Event | None = None) -> None:
        """Poll every ``interval_s`` until ``stop`` is set; failures are logged and retried."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.poll()
            except (TimeoutError, Web3Exception, OSError) as exc:
                log.warning("chain watcher: node error (%s); retrying", exc)
            except Exception:
                log.exception("chain watcher failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass

    async def _hand_over(self, events: Sequence[ChainEvent]) -> None:
        if self.batch_sink is not None:
            try:
                await self.batch_sink(events)
                self.applied += len(events)
                return
            except Exception as exc:  # one event may be the cause: find it alone
                log.warning("a batch of %s events failed (%r); one by one", len(events), exc)
        for event in events:
            try:
                await self.sink(event)
            except CoreError as exc:  # e.g. an illegal transition: log it, do not stall
                log.error(
                    "event %s %s:%s not applied: %s",
                    event.name,
                    event.tx_hash,
                    event.log_index,
                    exc,
                )
            except Exception as exc:
                if not self._set_aside(event, exc):
                    raise  # the range is read again on the next poll, from this event on
            self.applied += 1

    def _set_aside(self, event: ChainEvent, exc: Exception) -> bool:
        """Whether to go on past ``event``, which raised: only once it failed
        ``SET_ASIDE_AFTER`` polls in a row, and never for a node or database that is away
        (then every event fails, and waiting is right). One poison event must not stall the
        mirror of every other rental; it is logged with a reference to replay it by hand."""
        if isinstance(exc, Web3Exception) or is_transient(exc):
            return False
        key = (event.tx_hash, event.log_index)
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        if failures < SET_ASIDE_AFTER:
            log.warning(
                "event %s %s:%s failed (%r), try %s of %s; retried on the next poll",
                *(event.name, event.tx_hash, event.log_index, exc, failures, SET_ASIDE_AFTER),
            )
            return False
        del self._failures[key]
        log.error(
            "event %s %s:%s of escrow %s set aside after %s failures, reference %s: NOT applied",
            *(event.name, event.tx_hash, event.log_index, event.escrow_id, failures),
            reference("chain"),
            exc_info=exc,
        )
        return True

    async def _still_canonical(self, block: int, block_hash: str) -> bool:
        try:
            current = await self.escrow.w3.eth.get_block(block)
        except BlockNotFound:
            return False
        return "0x" + bytes(current["hash"]).hex() == block_hash

    async def _load(self) -> tuple[int, str | None]:
        key = await self.cursor_key()
        async with self.uow(readonly=True) as uow:
            raw = await uow.settings.get_value(key)
        if raw is None:
            return self.start_block - 1, None
        value = json.loads(raw)
        return int(value["block"]), value["hash"]

    async def _store(self, block: int, block_hash: str) -> None:
        key = await self.cursor_key()
        async with self.uow() as uow:
            await uow.settings.set_value(key, json.dumps({"block": block, "hash": block_hash}))
            await uow.commit()
