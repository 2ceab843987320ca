"""The chain adapter's one exception root and the mapping of reverts to user-facing text.

Every failure of the adapter is a :class:`ChainError`, a ``core.errors.PaymentError``, so the
services and front ends show ``user_message`` as is (or, through its catalogue key
``err.chain.<key>``, the same text in the user's language). A revert is decoded from its custom
error (escrow or token ABI), from an ``Error(string)`` reason (Circle's USDC reverts with those:
"Blacklistable: account is blacklisted", "Pausable: paused", ...) or from a ``Panic(uint256)``
code into :class:`Reverted` with the error's name and arguments; only a revert that is none of
these reads "The escrow refused the transaction".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from core.domain.catalogue import error_texts
from core.errors import PaymentError

STATUS_NAMES = ("unknown", "waiting to start", "active", "ended", "disputed", "closed")
STATUS_NAMES_DE = (
    "unbekannt",
    "wartend auf Start",
    "aktiv",
    "beendet",
    "im Streit",
    "abgeschlossen",
)

# Error(string): require(cond, "reason"), as Circle's USDC reverts
ERROR_STRING = bytes.fromhex("08c379a0")
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256): a failed assert, overflow, division by zero...
PANIC_MEANINGS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage",
    0x31: "pop from an empty array",
    0x32: "index out of bounds",
    0x41: "out of memory",
    0x51: "call to an unset function",
}


class ChainError(PaymentError):
    """Root of every chain adapter failure; nothing was charged unless a receipt says so."""


class ChainUnavailable(ChainError):
    """The node did not answer, or a transaction was not mined in time."""


class Reverted(ChainError):
    """The escrow (or the token) refused the call; ``error`` is the custom error's name, or
    ``Error`` (with the reason string as the one argument) or ``Panic`` (with the code)."""

    def __init__(
        self,
        user_message: str,
        error: str = "",
        args: tuple = (),
        *,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(user_message, key=key, params=params)
        self.error = error
        self.error_args = args


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _usdc(amount: int) -> str:
    return f"{amount // 10**6}.{amount % 10**6:06d} USDC"


# User texts, by catalogue key: ``err.chain.<key>`` in the error catalogues (core/locales/*.toml,
# English and German); ``{...}`` are filled from the error's arguments.
_TEXTS = {
    key.removeprefix("chain."): text
    for key, text in error_texts("en").items()
    if key.startswith("chain.")
}

# Custom errors (escrow, MockUSDC, OpenZeppelin) -> (key, params from the decoded arguments).
_CUSTOM: dict[str, tuple[str, Any]] = {
    "QuoteExpired": ("quote_expired", None),
    "InvalidSignature": ("request_signature", None),
    "ERC3009InvalidSignature": ("signature", None),
    "ECDSAInvalidSignature": ("signature", None),
    "ECDSAInvalidSignatureS": ("signature", None),
    "ECDSAInvalidSignatureLength": ("signature", None),
    "PermitInvalidSigner": ("signature", None),
    "ERC3009UsedAuthorization": ("authorization_used", None),
    "ERC3009InvalidAuthorizationTime": ("authorization_time", None),
    "PermitExpired": ("permit_expired", None),
    "SignatureExpired": ("signature_expired", None),
    "RentalExists": ("rental_exists", None),
    "NewRentalsPaused": ("new_rentals_paused", None),
    "InvalidTerms": ("invalid_terms", None),
    "DepositTooSmall": ("deposit_too_small", lambda a: {"minimum": _usdc(a[0])}),
    "PrepaidTimeOutOfRange": ("prepaid_range", None),
    "DepositShortfall": ("deposit_shortfall", None),
    "WrongStatus": (
        "wrong_status",
        lambda a: {
            "status": STATUS_NAMES[min(a[0], 5)],
            "status_de": STATUS_NAMES_DE[min(a[0], 5)],
        },
    ),
    "NotAuthorized": ("not_authorized", None),
    "TooEarly": ("too_early", lambda a: {"when": _when(a[0])}),
    "TooLate": ("too_late", lambda a: {"when": _when(a[0])}),
    "AwardTooHigh": ("award_too_high", None),
    "ZeroAmount": ("zero_amount", None),
    "AmountTooLarge": ("amount_too_large", None),
    "NothingToClaim": ("nothing_to_claim", None),
    "ERC20InsufficientBalance": ("balance", None),
    "ERC20InsufficientAllowance": ("allowance", None),
    "AccountBlocklisted": ("blocked", None),
    "EnforcedPause": ("token_paused", None),
}

# Error(string) reasons of Circle's FiatTokenV2_2 (and the OpenZeppelin 3/4 wording it shares).
_REASONS = {
    "Blacklistable: account is blacklisted": "blocked",
    "FiatTokenV2_2: Account is blacklisted": "blocked",
    "Pausable: paused": "token_paused",
    "ERC20: transfer amount exceeds balance": "balance",
    "ERC20: transfer amount exceeds allowance": "allowance",
    "ERC20: insufficient allowance": "allowance",
    "FiatTokenV2: invalid signature": "signature",
    "EIP2612: invalid signature": "signature",
    "ECRecover: invalid signature": "signature",
    "ECRecover: invalid signature 's' value": "signature",
    "ECRecover: invalid signature 'v' value": "signature",
    "ECRecover: invalid signature length": "signature",
    "FiatTokenV2: authorization is used or canceled": "authorization_used",
    "FiatTokenV2: authorization is expired": "authorization_time",
    "FiatTokenV2: authorization is not yet valid": "authorization_time",
    "FiatTokenV2: permit is expired": "permit_expired",
}

_REASON_MAX = 120


def keyed_revert(key: str, error: str = "", args: tuple = (), **params: object) -> Reverted:
    """A :class:`Reverted` with the text ``key`` (English here, other languages in the catalogue)."""
    return Reverted(_TEXTS[key].format(**params), error, args, key=f"chain.{key}", params=params)


GENERIC = _TEXTS["refused"]


def error_string(data: bytes) -> str | None:
    """The reason of an ``Error(string)`` revert, else None. Lenient about dirty padding (Solidity
    0.6 leaves it, and Circle's USDC is compiled with 0.6.12)."""
    if data[:4] != ERROR_STRING:
        return None
    try:
        (reason,) = decode(["string"], data[4:], strict=False)
    except Exception:  # noqa: BLE001 - malformed: not a readable reason
        return None
    return reason


def panic_code(data: bytes) -> int | None:
    """The code of a ``Panic(uint256)`` revert, else None."""
    if data[:4] != PANIC or len(data) < 36:
        return None
    return int.from_bytes(data[4:36], "big")


def _printable(reason: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in reason).strip()
    return clean if len(clean) <= _REASON_MAX else clean[: _REASON_MAX - 1] + "…"


class RevertDecoder:
    """Decodes revert data: the custom errors of the given ABIs, ``Error(string)`` reasons and
    ``Panic(uint256)`` codes. Only a revert that is none of these reads as the generic refusal."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    types = [_abi_type(p) for p in item["inputs"]]
                    selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                    self._errors[selector] = (item["name"], types)

    def error(self, data: bytes) -> Reverted:
        """A :class:`Reverted` with user text for revert ``data`` (selector and arguments)."""
        reason = error_string(data)
        if reason is not None:
            key = _REASONS.get(reason)
            if key is not None:
                return keyed_revert(key, "Error", (reason,))
            return keyed_revert("refused_reason", "Error", (reason,), reason=_printable(reason))
        code = panic_code(data)
        if code is not None:
            meaning = PANIC_MEANINGS.get(code, "unknown panic")
            return keyed_revert("panic", "Panic", (code,), code=f"0x{code:02x}", meaning=meaning)
        found = self._errors.get(data[:4])
        if found is None:
            return keyed_revert("refused")
        name, types = found
        try:
            args = tuple(decode(types, data[4:]))
        except Exception:  # noqa: BLE001 - malformed arguments still name the error
            args = ()
        key, make_params = _CUSTOM.get(name, ("refused", None))
        if make_params is not None and not args:
            key, make_params = "refused", None
        params = make_params(args) if make_params is not None else {}
        return keyed_revert(key, name, args, **params)

    def from_exception(self, exc: BaseException) -> Reverted | None:
        """The revert carried by a web3 exception, or None if ``exc`` is not a revert."""
        data = _revert_data(exc)
        if data is None:
            return None
        return self.error(data)


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")


def _revert_data(exc: BaseException) -> bytes | None:
    """Raw revert bytes from web3's ContractLogicError/Web3RPCError (data may be nested)."""
    from web3.exceptions import ContractLogicError, Web3RPCError

    if not isinstance(exc, ContractLogicError | Web3RPCError):
        return None
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None and isinstance(exc, Web3RPCError):
        message = exc.rpc_response.get("error", {}) if exc.rpc_response else {}
        data = message.get("data") if isinstance(message, dict) else None
        if data is None:
            return None if "revert" not in str(exc) else b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        match = _HEX.search(data)
        return bytes.fromhex(match.group(0)[2:]) if match else b""
    return b""
