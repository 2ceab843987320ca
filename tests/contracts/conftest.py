"""Contract test harness: one in-process EVM per session, rolled back after every test.

The session deploys MockUSDC and RentalEscrow once (``contracts.sandbox.Sandbox``) and funds the
renters; each test runs on a snapshot that is reverted afterwards, so tests are independent and
fast. Time travel: ``sb.advance(seconds)`` / ``sb.set_next_timestamp(ts)`` choose the timestamp
the next transaction executes at (each transaction mines its own block).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.sandbox import USDC, Sandbox
from tests.contracts.anvil import running_anvil

RENTER_FUNDS = 10_000 * USDC


@pytest.fixture(scope="session")
def _session_sandbox() -> Sandbox:
    sb = Sandbox()
    for who in ("renter", "renter2", "stranger"):
        sb.mint(who, RENTER_FUNDS)
    return sb


@pytest.fixture
def sb(_session_sandbox: Sandbox) -> Iterator[Sandbox]:
    snap = _session_sandbox.snapshot()
    try:
        yield _session_sandbox
    finally:
        _session_sandbox.revert(snap)


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """One anvil node (real JSON-RPC on loopback) for every test that needs it."""
    with running_anvil() as url:
        yield url
