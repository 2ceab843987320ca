"""JSON from outside (agent API and signing page bodies, WalletConnect messages from wallets
and the relay), parsed so that nothing a sender writes can do more than be refused.

``json.loads`` alone lets through what is not JSON (NaN, Infinity) and raises what an endpoint
would not expect: a ValueError that is no JSONDecodeError for a number of more than 4,300
digits (Python's int conversion limit) and RecursionError for deep nesting, or, where a library
raised the recursion limit, overflows the C stack and kills the process. Each is a client's
mistake, to be answered 400 with the reason, never 500. Numbers longer than any field can hold
are refused before Python converts them (a 4,000-digit int costs real CPU to convert).
"""

from __future__ import annotations

import json
import math
import re

MAX_DIGITS = 40  # no field of any body holds more than 2**63 (19 digits); a long one is refused
MAX_DEPTH = 32  # the deepest body (a results post) nests 5 levels
# a JSON string (skipped whole: brackets inside it do not nest) or one bracket
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def nesting(body: bytes) -> int:
    """0 if ``body``'s arrays and objects nest at most ``MAX_DEPTH`` levels, else a depth over
    it (a string left open ends the scan: the parser refuses that body anyway)."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return 0  # cannot be deeper than that: the usual body costs two counts
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return depth  # deep enough to refuse: no need to read on
        elif token in (b"]", b"}"):
            depth -= 1
    return 0


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits is out of range")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def parse_json(body: bytes | str) -> object:
    """``body`` as JSON; ValueError with a reason a client can act on for anything else: not
    UTF-8, not JSON, NaN or Infinity, a number of more than 4,300 digits, nesting too deep."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    # before the parser: it recurses in C once per level, and a process that raised Python's
    # recursion limit (py-evm sets 100,000) crashes on a deep enough body instead of raising
    if nesting(body) > MAX_DEPTH:
        raise ValueError(f"Body is not JSON the service reads: nested over {MAX_DEPTH} levels.")
    try:
        return json.loads(body, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise ValueError("Body is not JSON the service reads: nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise ValueError(f"Body is not JSON the service reads: {exc}") from None
