"""The chain adapter's one exception root and the mapping of reverts to user-facing text.

Every failure of the adapter is a :class:`ChainError`, a ``core.errors.PaymentError``, so the
services and front ends show ``user_message`` as is. A revert is decoded from its custom error
(escrow or token ABI) into :class:`Reverted` with the error's name and arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from core.errors import PaymentError

STATUS_NAMES = ("unknown", "waiting to start", "active", "ended", "disputed", "closed")


class ChainError(PaymentError):
    """Root of every chain adapter failure; nothing was charged unless a receipt says so."""


class ChainUnavailable(ChainError):
    """The node did not answer, or a transaction was not mined in time."""


class Reverted(ChainError):
    """The escrow (or the token) refused the call; ``error`` is the custom error's name."""

    def __init__(self, user_message: str, error: str = "", args: tuple = ()) -> None:
        super().__init__(user_message)
        self.error = error
        self.error_args = args


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _usdc(amount: int) -> str:
    return f"{amount // 10**6}.{amount % 10**6:06d} USDC"


_TEXT: dict[str, Any] = {
    "QuoteExpired": "The quote expired before the payment arrived. Send /rent for a fresh price.",
    "InvalidSignature": "The wallet's signature does not match this request.",
    "ERC3009InvalidSignature": "The wallet's signature does not match these rental terms.",
    "ECDSAInvalidSignature": "The wallet's signature is not valid; sign again.",
    "ECDSAInvalidSignatureS": "The wallet's signature is not valid; sign again.",
    "ECDSAInvalidSignatureLength": "The wallet's signature is not valid; sign again.",
    "ERC3009UsedAuthorization": "This payment authorization was already used.",
    "ERC3009InvalidAuthorizationTime": "The payment authorization expired; sign again.",
    "SignatureExpired": "The signed request expired before it reached the chain; sign again.",
    "RentalExists": "This rental is already paid.",
    "NewRentalsPaused": "New rentals are paused for maintenance; nothing was charged.",
    "InvalidTerms": "The escrow refuses these rental terms.",
    "DepositTooSmall": lambda a: f"The deposit is below the escrow's minimum of {_usdc(a[0])}.",
    "PrepaidTimeOutOfRange": "The prepaid time is outside what the escrow accepts.",
    "DepositShortfall": "The token delivered less than the deposit; nothing was locked.",
    "WrongStatus": lambda a: (
        f"The escrow has this rental as {STATUS_NAMES[min(a[0], 5)]}; that step is not possible."
    ),
    "NotAuthorized": "Only the renter or the provider may do that now.",
    "TooEarly": lambda a: f"Too early: the escrow allows this from {_when(a[0])}.",
    "TooLate": lambda a: f"Too late: the escrow allowed this until {_when(a[0])}.",
    "AwardTooHigh": "The award exceeds the time-based bill.",
    "ZeroAmount": "The amount must be more than zero.",
    "NothingToClaim": "There is nothing to claim.",
    "ERC20InsufficientBalance": "Your wallet does not hold enough USDC for this.",
    "AccountBlocklisted": "The token issuer blocks this address; nothing was charged.",
    "EnforcedPause": "The token is paused by its issuer; try again later.",
}
GENERIC = "The escrow refused the transaction; nothing was charged."


class RevertDecoder:
    """Decodes revert data with the custom errors of the given ABIs."""

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
        found = self._errors.get(data[:4])
        if found is None:
            return Reverted(GENERIC, "", ())
        name, types = found
        try:
            args = tuple(decode(types, data[4:]))
        except Exception:  # noqa: BLE001 - malformed arguments still name the error
            args = ()
        text = _TEXT.get(name, GENERIC)
        if callable(text):
            text = text(args) if args else GENERIC
        return Reverted(text, name, args)

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
