"""Decoding of the escrow's rental events (and ``Claimed``) into ``core.ports.ChainEvent``.

The contract's argument names are kept (``startedAt``, ``paidUntil``, ``deposit``, ``endedAt``,
``providerNet``, ``fee``, ``refund``, ``providerGross`` ...), which are the names the rental
lifecycle reads; bytes become 0x-hex, addresses checksummed strings, amounts stay ints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_abi.exceptions import DecodingError
from eth_utils import event_abi_to_log_topic, to_checksum_address

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
# events about an account rather than a rental: the account is the event's subject (its
# ``escrow_id``, lower-case) so the service can find the claims that paid a held payout
ACCOUNT_EVENTS = {"Claimed": "account"}


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _hex(value)
    return value


class _Event:
    """One event's layout: indexed inputs come from topics, the others from data."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.name = item["name"]
        self.indexed = [(i["name"], i["type"]) for i in item["inputs"] if i["indexed"]]
        self.plain = [(i["name"], i["type"]) for i in item["inputs"] if not i["indexed"]]


class EventDecoder:
    """Turns escrow logs (from receipts or ``eth_getLogs``) into ChainEvents."""

    def __init__(self, w3: Any, abi: list[dict[str, Any]], address: str) -> None:
        self._codec = w3.codec
        self.address = address.lower()
        self._by_topic: dict[bytes, _Event] = {}
        for item in abi:
            if item.get("type") == "event" and (
                item["name"] in RENTAL_EVENTS or item["name"] in ACCOUNT_EVENTS
            ):
                self._by_topic[event_abi_to_log_topic(item)] = _Event(item)

    @property
    def topics(self) -> list[str]:
        """topic0 of every rental and account event, for an ``eth_getLogs`` filter."""
        return [_hex(t) for t in self._by_topic]

    def decode(self, log: Any) -> ChainEvent | None:
        """The rental event in ``log``, or None for any other log."""
        topics = log.get("topics") or []
        if not topics or str(log.get("address", "")).lower() != self.address:
            return None
        topic0 = topics[0]
        layout = self._by_topic.get(_b(topic0) if isinstance(topic0, str) else bytes(topic0))
        if layout is None or len(topics) != 1 + len(layout.indexed):
            return None
        try:
            args = {
                name: self._value(kind, self._codec.decode([kind], _b32(topic))[0])
                for (name, kind), topic in zip(layout.indexed, topics[1:], strict=True)
            }
            data = log.get("data") or b""
            values = self._codec.decode([k for _, k in layout.plain], _b32(data))
        except DecodingError:
            return None
        args.update(
            (name, self._value(kind, v))
            for (name, kind), v in zip(layout.plain, values, strict=True)
        )
        subject = ACCOUNT_EVENTS.get(layout.name)
        escrow_id = args.pop("id") if subject is None else str(args[subject]).lower()
        return ChainEvent(
            tx_hash=_hex(log["transactionHash"]),
            log_index=int(log["logIndex"]),
            block_number=int(log["blockNumber"]),
            name=layout.name,
            escrow_id=escrow_id,
            args=args,
        )

    def decode_all(self, logs: Iterable[Any]) -> list[ChainEvent]:
        """Every rental event in ``logs``, in chain order."""
        events = [e for e in (self.decode(log) for log in logs) if e is not None]
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    @staticmethod
    def _value(kind: str, value: Any) -> Any:
        if kind == "address":
            return to_checksum_address(value)
        return _plain(value)


def _b32(value: Any) -> bytes:
    return _b(value) if isinstance(value, str) else bytes(value)


def _b(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)
