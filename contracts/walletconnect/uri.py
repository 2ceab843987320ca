"""Pairing URIs: ``wc:{topic}@2?relay-protocol=irn&symKey={hex}&expiryTimestamp={unix}``.

The topic is sha256 of the symmetric key (``crypto.topic_of``); ``methods`` is left out, as the
JS SDK leaves it out. Parsing is strict: anything else raises :class:`UriError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from contracts.walletconnect.crypto import CryptoError, is_topic, key_from_hex, topic_of

RELAY_PROTOCOL = "irn"


class UriError(ValueError):
    """Not a WalletConnect v2 pairing URI we can use."""


@dataclass(frozen=True, slots=True)
class PairingUri:
    topic: str
    sym_key: bytes
    expiry: int | None
    relay_protocol: str = RELAY_PROTOCOL

    @classmethod
    def for_key(cls, sym_key: bytes, expiry: int) -> PairingUri:
        return cls(topic_of(sym_key), sym_key, expiry)

    def __str__(self) -> str:
        uri = f"wc:{self.topic}@2?relay-protocol={self.relay_protocol}&symKey={self.sym_key.hex()}"
        return uri if self.expiry is None else f"{uri}&expiryTimestamp={self.expiry}"

    def __repr__(self) -> str:  # the key is a secret
        return f"PairingUri(topic={self.topic}, expiry={self.expiry})"


def parse_uri(text: str) -> PairingUri:
    """Parse a v2 pairing URI. Raises UriError for another version, a topic that is not the
    hash of the key, an unknown relay protocol or a malformed expiry."""
    if not isinstance(text, str) or not text.startswith("wc:") or len(text) > 2048:
        raise UriError("a pairing URI starts with wc:")
    head, sep, query = text[3:].partition("?")
    topic, at, version = head.partition("@")
    if not sep or not at:
        raise UriError("a pairing URI looks like wc:<topic>@2?...")
    if version != "2":
        raise UriError(f"WalletConnect version {version!r} is not supported (only 2)")
    if not is_topic(topic):
        raise UriError("the pairing topic must be 64 lowercase hex characters")
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise UriError("malformed query") from exc
    if any(len(v) != 1 for v in params.values()):
        raise UriError("a query parameter appears twice")
    one = {k: v[0] for k, v in params.items()}
    if one.get("relay-protocol") != RELAY_PROTOCOL:
        raise UriError("relay-protocol must be irn")
    try:
        sym_key = key_from_hex(one.get("symKey", ""), "symKey")
    except CryptoError as exc:
        raise UriError(str(exc)) from exc
    if topic_of(sym_key) != topic:
        raise UriError("the topic is not derived from symKey")
    expiry = one.get("expiryTimestamp")
    if expiry is not None and not (expiry.isdigit() and 0 < len(expiry) <= 12):
        raise UriError("expiryTimestamp must be unix seconds")
    return PairingUri(topic, sym_key, int(expiry) if expiry is not None else None)
