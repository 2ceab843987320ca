"""Wallet addresses: one home for what an EVM address is (0x and 40 hex digits, any case).

Chat input, wallets' answers and the chain all hand us addresses; each place checks them with
these functions instead of its own pattern. The checksum (mixed case) is not verified here:
it needs a Keccak hash the domain does not carry, and a lowercase address is valid anyway.
"""

from __future__ import annotations

import re

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}", re.ASCII)
ZERO = "0x" + "0" * 40


def is_address(text: object) -> bool:
    """Whether ``text`` is exactly an address, in any case."""
    return isinstance(text, str) and ADDRESS.fullmatch(text) is not None


def canonical(text: str) -> str:
    """The address as stored and compared: lowercase. Raises ValueError for a non-address."""
    if not is_address(text):
        raise ValueError(f"not an address: {text[:44]!r}")
    return text.lower()


def is_zero(text: str) -> bool:
    return is_address(text) and int(text, 16) == 0
