"""Decoding of the escrow's rental events into ``core.ports.ChainEvent``.

The contract's argument names are kept (``startedAt``, ``paidUntil``, ``deposit``, ``endedAt``,
``providerNet``, ``fee``, ``refund``, ``providerGross`` ...), which are the names the rental
lifecycle reads; bytes become 0x-hex, addresses checksummed strings, amounts stay ints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3._utils.events import get_event_data
from web3.exceptions import LogTopicError, MismatchedABI

from core.ports import ChainEvent

# events that concern one rental (indexed by its id); owner and treasury events are not mirrored
RENTAL_EVENTS = (
    "RentalOpened",
    "RentalStarted",
    "RentalExtended",
    "RentalEnded",
    "RentalCancelled",
    "DisputeOpened",
    "DisputeResolved",
    "DisputeTimedOut",
    "RentalSettled",
    "PushFailed",
)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(value)
    return value


class EventDecoder:
    """Turns escrow logs (from receipts or ``eth_getLogs``) into ChainEvents."""

    def __init__(self, w3: Any, abi: list[dict[str, Any]], address: str) -> None:
        self._codec = w3.codec
        self.address = address.lower()
        self._by_topic: dict[bytes, dict[str, Any]] = {}
        for item in abi:
            if item.get("type") == "event" and item["name"] in RENTAL_EVENTS:
                self._by_topic[event_abi_to_log_topic(item)] = item

    @property
    def topics(self) -> list[str]:
        """topic0 of every rental event, for an ``eth_getLogs`` filter."""
        return [_hex(t) for t in self._by_topic]

    def decode(self, log: Any) -> ChainEvent | None:
        """The rental event in ``log``, or None for any other log."""
        topics = log.get("topics") or []
        if not topics or str(log.get("address", "")).lower() != self.address:
            return None
        topic0 = topics[0]
        abi = self._by_topic.get(bytes(topic0) if not isinstance(topic0, str) else _b(topic0))
        if abi is None:
            return None
        try:
            data = get_event_data(self._codec, abi, log)
        except (MismatchedABI, LogTopicError):
            return None
        args = {k: _plain(v) for k, v in data["args"].items()}
        escrow_id = args.pop("id")
        return ChainEvent(
            tx_hash=_hex(log["transactionHash"]),
            log_index=int(log["logIndex"]),
            block_number=int(log["blockNumber"]),
            name=data["event"],
            escrow_id=escrow_id,
            args=args,
        )

    def decode_all(self, logs: Iterable[Any]) -> list[ChainEvent]:
        """Every rental event in ``logs``, in chain order."""
        events = [e for e in (self.decode(log) for log in logs) if e is not None]
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events


def _b(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)
