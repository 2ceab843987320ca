"""Sign protocol constants (tags, TTLs, error codes), JSON-RPC ids and strict message parsing.

Tags and TTLs are ``@walletconnect/sign-client``'s (``constants/engine.ts``); tags only matter
to the relay, so received tags are never checked (pyWalletConnect answers requests with tag 0).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

DAY = 86_400


@dataclass(frozen=True, slots=True)
class MethodSpec:
    req_tag: int
    res_tag: int
    ttl: int
    prompt: bool = False


METHODS: dict[str, MethodSpec] = {
    "wc_sessionPropose": MethodSpec(1100, 1101, 300, True),
    "wc_sessionSettle": MethodSpec(1102, 1103, 300),
    "wc_sessionUpdate": MethodSpec(1104, 1105, DAY),
    "wc_sessionExtend": MethodSpec(1106, 1107, DAY),
    "wc_sessionRequest": MethodSpec(1108, 1109, 300, True),
    "wc_sessionEvent": MethodSpec(1110, 1111, 300, True),
    "wc_sessionDelete": MethodSpec(1112, 1113, DAY),
    "wc_sessionPing": MethodSpec(1114, 1115, DAY),
    "wc_pairingDelete": MethodSpec(1000, 1001, DAY),
    "wc_pairingPing": MethodSpec(1002, 1003, 30),
}
UNKNOWN_METHOD = MethodSpec(0, 0, DAY)
PROPOSE_REJECT_TAG = 1120

# sign/error-codes.md
USER_REJECTED_EIP1193 = 4001
USER_REJECTED = 5000
USER_REJECTED_CHAINS = 5001
USER_REJECTED_METHODS = 5002
USER_REJECTED_EVENTS = 5003
UNSUPPORTED_CHAINS = 5100
UNSUPPORTED_METHODS = 5101
UNSUPPORTED_ACCOUNTS = 5103
USER_DISCONNECTED = 6000
SESSION_SETTLEMENT_FAILED = 7000
NO_SESSION_FOR_TOPIC = 7001
SESSION_REQUEST_EXPIRED = 8000
INVALID_METHOD = 1001
INVALID_EVENT = 1002
INVALID_UPDATE = 1003
INVALID_EXTEND = 1004
INVALID_SETTLE = 1005
REJECTED_BY_USER = frozenset({USER_REJECTED_EIP1193, 5000, 5001, 5002, 5003})
UNSUPPORTED = frozenset({5100, 5101, 5102, 5103, 5104, 3001, 3002, 3003, 3004, 3005, -32601})

# what the core is told when a request fails (RentalEvents.signature_failed reasons)
REASON_REJECTED = "rejected in the wallet"
REASON_TIMEOUT = "the wallet did not answer in time"
REASON_ENDED = "the wallet session ended"
REASON_UNSUPPORTED = "the wallet does not support this request"
REASON_REFUSED = "the wallet refused the request"

_MAX_ID = 2**63
_counter = itertools.count()


class ProtocolError(ValueError):
    """A JSON-RPC message that breaks the protocol (wrong shape, types or id)."""


def payload_id() -> int:
    """A peer-level id like JS ``payloadId()``: milliseconds * 1000 + a small counter."""
    return int(time.time() * 1000) * 1000 + next(_counter) % 1000


def relay_rpc_id() -> int:
    """A 19-digit relay-level id like JS ``getBigIntRpcId()``."""
    return int(time.time() * 1000) * 10**6 + int.from_bytes(os.urandom(3), "big") % 10**6


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    result: Any = None
    error: dict[str, Any] | None = None


def request(id_: int, method: str, params: Any) -> dict[str, Any]:
    return {"id": id_, "jsonrpc": "2.0", "method": method, "params": params}


def result(id_: int, value: Any) -> dict[str, Any]:
    return {"id": id_, "jsonrpc": "2.0", "result": value}


def error(id_: int, code: int, message: str) -> dict[str, Any]:
    return {"id": id_, "jsonrpc": "2.0", "error": {"code": code, "message": message}}


def valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_ID


def parse_message(obj: object) -> Request | Response:
    """A decrypted peer message as a Request or a Response. Raises ProtocolError."""
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        raise ProtocolError("not a JSON-RPC 2.0 object")
    if not valid_id(obj.get("id")):
        raise ProtocolError("the id must be a positive integer")
    if "method" in obj:
        method, params = obj["method"], obj.get("params", {})
        if not isinstance(method, str) or not 0 < len(method) <= 64:
            raise ProtocolError("the method must be a short string")
        if not isinstance(params, dict | list):
            raise ProtocolError("params must be an object or an array")
        return Request(obj["id"], method, params)
    has_result, has_error = "result" in obj, "error" in obj
    if has_result == has_error:
        raise ProtocolError("a response carries exactly one of result and error")
    if has_error:
        err = obj["error"]
        if (
            not isinstance(err, dict)
            or not isinstance(err.get("code"), int)
            or isinstance(err.get("code"), bool)
            or not isinstance(err.get("message", ""), str)
        ):
            raise ProtocolError("an error needs an integer code and a message")
        return Response(obj["id"], error={"code": err["code"], "message": err.get("message", "")})
    return Response(obj["id"], result=obj["result"])


def spec(method: str) -> MethodSpec:
    return METHODS.get(method, UNKNOWN_METHOD)


def reason_for(err: dict[str, Any]) -> str:
    """The core's failure reason for a wallet's JSON-RPC error."""
    code = err.get("code")
    if code in REJECTED_BY_USER:
        return REASON_REJECTED
    if code == SESSION_REQUEST_EXPIRED:
        return REASON_TIMEOUT
    if code in (USER_DISCONNECTED, NO_SESSION_FOR_TOPIC):
        return REASON_ENDED
    if code in UNSUPPORTED:
        return REASON_UNSUPPORTED
    return REASON_REFUSED
