"""What the dapp client keeps per user (a pairing in progress or a settled session, and the
requests in flight) and the validation of what a wallet settles, updates and emits.

Validation functions raise :class:`PeerError` with a WalletConnect error code, which the client
sends back to the wallet; nothing is changed then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from contracts import typed_data as td
from contracts.walletconnect import protocol as p
from contracts.walletconnect.crypto import KeyPair
from contracts.walletconnect.uri import PairingUri
from core.domain.addresses import is_address

NAMESPACE = "eip155"
SIGN_METHODS = ("eth_signTypedData_v4", "personal_sign")
PROPOSED_METHODS = ["eth_sendTransaction", "eth_signTypedData_v4", "personal_sign"]
EVENTS = ["chainChanged", "accountsChanged"]
PAIRING_TTL = 300  # the proposal's ttl: a pairing URI is good for five minutes
MAX_SESSION = 7 * 86_400  # the JS SESSION_EXPIRY; longer settles are clamped to it
_PRINTABLE = re.compile(r"[^\w .,:'()&+-]")


class PeerError(ValueError):
    """Something the wallet sent that we refuse; ``code`` goes back in the JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Pairing:
    """A proposal waiting for the wallet. After its approval (1101) the session topic and key
    are known and the settle is awaited on that topic."""

    topic: str
    sym_key: bytes
    private_key: bytes  # our X25519 key for this proposal
    proposal_id: int
    expiry: int
    chain_id: int
    responder_key: bytes | None = None
    session_topic: str | None = None
    session_key: bytes | None = None

    @property
    def uri(self) -> PairingUri:
        return PairingUri(self.topic, self.sym_key, self.expiry)

    @property
    def public_key(self) -> bytes:
        return KeyPair.from_private(self.private_key).public


@dataclass
class Session:
    topic: str
    sym_key: bytes
    peer_public: bytes
    pairing_topic: str
    address: str
    chain_id: int
    expiry: int
    peer_name: str
    methods: tuple[str, ...] = tuple(SIGN_METHODS)


@dataclass
class Outgoing:
    """A signature request for the wallet: queued until a session exists, then sent (wc_id)."""

    request_id: str
    method: str
    payload: dict[str, Any]
    expires_at: int
    wc_id: int | None = None


@dataclass(eq=False)
class Link:
    """Everything about one user's wallet: exactly one of ``pairing`` and ``session`` is set."""

    user_id: int
    pairing: Pairing | None = None
    session: Session | None = None
    requests: list[Outgoing] = field(default_factory=list)
    connect_request_id: str | None = None
    created_at: int = 0

    def topics(self) -> list[str]:
        if self.session is not None:
            return [self.session.topic]
        pairing = self.pairing
        return [pairing.topic] + ([pairing.session_topic] if pairing.session_topic else [])

    def request_by_wc_id(self, wc_id: int) -> Outgoing | None:
        return next((r for r in self.requests if r.wc_id == wc_id), None)


def parse_account(text: object, chain_id: int | None = None) -> str | None:
    """The checksummed address of a CAIP-10 account ``eip155:<chain>:0x…`` (of ``chain_id``
    when given), or None when it is something else."""
    if not isinstance(text, str) or len(text) > 120:
        return None
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != NAMESPACE or not parts[1].isdigit():
        return None
    if chain_id is not None and int(parts[1]) != chain_id:
        return None
    return to_checksum_address(parts[2]) if is_address(parts[2]) else None


def account_in(namespaces: object, chain_id: int) -> tuple[str, tuple[str, ...]]:
    """(address on ``chain_id``, methods) of settled namespaces. Wallets answer a proposal of
    optional namespaces either way: one ``eip155`` namespace, or one per chain
    (``eip155:137``, CAIP-25); an account on our chain and its namespace's methods count.
    Raises PeerError."""
    entries = [
        ns
        for key, ns in (namespaces.items() if isinstance(namespaces, dict) else [])
        if key in (NAMESPACE, f"{NAMESPACE}:{chain_id}") and isinstance(ns, dict)
    ]
    if not any(isinstance(ns.get("accounts"), list) for ns in entries):
        raise PeerError(p.UNSUPPORTED_ACCOUNTS, "no eip155 accounts in the namespaces")
    ours = [
        (address, ns)
        for ns in entries
        if isinstance(ns.get("accounts"), list)
        for address in (parse_account(x, chain_id) for x in ns["accounts"])
        if address
    ]
    if not ours:
        raise PeerError(p.UNSUPPORTED_ACCOUNTS, f"no account on chain eip155:{chain_id}")
    address, ns = ours[0]
    methods = ns.get("methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise PeerError(p.UNSUPPORTED_METHODS, "methods must be a list of names")
    missing = [m for m in SIGN_METHODS if m not in methods]
    if missing:
        raise PeerError(p.UNSUPPORTED_METHODS, f"the wallet does not offer {', '.join(missing)}")
    return address, tuple(methods)


def peer_name(metadata: object) -> str:
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name.strip():
        return "wallet"
    return _PRINTABLE.sub("", name).strip()[:64] or "wallet"


def settle(pairing: Pairing, params: object, now: int) -> Session:
    """The session a ``wc_sessionSettle`` establishes. Raises PeerError (the controller key is
    not the key that approved the proposal, the expiry has passed, no account on our chain, the
    signing methods are missing)."""
    if not isinstance(params, dict):
        raise PeerError(p.INVALID_SETTLE, "settle params must be an object")
    relay = params.get("relay", {"protocol": "irn"})
    if not isinstance(relay, dict) or relay.get("protocol") != "irn":
        raise PeerError(p.INVALID_SETTLE, "unsupported relay protocol")
    controller = params.get("controller")
    key = controller.get("publicKey") if isinstance(controller, dict) else None
    if pairing.responder_key is None or key != pairing.responder_key.hex():
        raise PeerError(p.INVALID_SETTLE, "the controller is not the wallet that approved")
    expiry = params.get("expiry")
    if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry <= now:
        raise PeerError(p.INVALID_SETTLE, "the session expiry has passed")
    address, methods = account_in(params.get("namespaces"), pairing.chain_id)
    return Session(
        topic=pairing.session_topic,
        sym_key=pairing.session_key,
        peer_public=pairing.responder_key,
        pairing_topic=pairing.topic,
        address=address,
        chain_id=pairing.chain_id,
        expiry=min(expiry, now + MAX_SESSION),
        peer_name=peer_name(controller.get("metadata")),
        methods=methods,
    )


def extended_expiry(session: Session, params: object, now: int) -> int:
    """The new expiry of a ``wc_sessionExtend``. Every JS SDK since 2.17 sends ``params: {}``
    and sets now + 7 days on its side: so do we (by our clock). An explicit ``expiry`` (the
    older spec) is taken up to now + 7 days; beyond that it is cut to now + 7 days, as the SDK
    does, so a wallet whose clock runs ahead is not refused. Raises PeerError (params that are
    not an object, an expiry that is not a later integer)."""
    if not isinstance(params, dict):
        raise PeerError(p.INVALID_EXTEND, "extend params must be an object")
    longest = now + MAX_SESSION
    expiry = params.get("expiry")
    if expiry is None:
        return max(longest, session.expiry)
    if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry <= session.expiry:
        raise PeerError(p.INVALID_EXTEND, "an extension must move the expiry later")
    return max(min(expiry, longest), session.expiry)


def changed_account(session: Session, params: object) -> str | None:
    """The new address of an ``accountsChanged`` event (None for other events). The data is a
    list of CAIP-10 accounts or plain addresses; the first one on our chain wins. Raises
    PeerError for an event the session does not carry or an unusable account list."""
    event = params.get("event") if isinstance(params, dict) else None
    name = event.get("name") if isinstance(event, dict) else None
    if name not in EVENTS:
        raise PeerError(p.INVALID_EVENT, f"event {str(name)[:40]!r} is not in the session")
    if name != "accountsChanged":
        return None
    data = event.get("data")
    for item in data if isinstance(data, list) else []:
        if isinstance(item, str) and is_address(item):
            return to_checksum_address(item)
        address = parse_account(item, session.chain_id)
        if address:
            return address
    raise PeerError(p.INVALID_EVENT, "accountsChanged without an account on our chain")


def request_params(method: str, payload: dict[str, Any], address: str) -> list[Any]:
    """The ``wc_sessionRequest`` params of a signature request (interfaces.md)."""
    if method == "eth_signTypedData_v4":
        return [address, typed_data_json(payload)]
    if method == "personal_sign":
        message = payload.get("message")
        if not isinstance(message, str):
            raise ValueError("personal_sign needs a text message")
        return ["0x" + message.encode().hex(), payload.get("address") or address]
    raise ValueError(f"unsupported signing method {method!r}")


def typed_data_json(payload: dict[str, Any]) -> str:
    """Typed data as wallets read it: message integers as decimal strings (JSON numbers lose
    precision above 2**53 in JavaScript)."""
    return td.to_json(dict(payload))
