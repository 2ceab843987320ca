"""Contract test harness: one in-process EVM per token per session, rolled back after every test.

The session deploys the token and RentalEscrow once per token (``tests.contracts.sandbox.Sandbox``) and
funds the renters; each test runs on a snapshot that is reverted afterwards, so tests are
independent and fast. Time travel: ``sb.advance(seconds)`` / ``sb.set_next_timestamp(ts)`` choose
the timestamp the next transaction executes at (each transaction mines its own block).

The token is MockUSDC unless a module parametrizes ``token_name`` over ``TOKENS`` (see
``tests.contracts.helpers.ON_BOTH_TOKENS``): then every test of it also runs on Circle's real
FiatTokenV2_2 behind its proxy, loaded from the npm toolchain (``tests.contracts.circle_usdc``).
Without that package the Circle runs skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contracts.anvil import running_anvil
from tests.contracts.helpers import assert_money_conserved, require_circle_usdc
from tests.contracts.sandbox import CIRCLE_USDC, MOCK_USDC, USDC, Sandbox

RENTER_FUNDS = 10_000 * USDC


@pytest.fixture(scope="session")
def _sandboxes() -> dict[str, Sandbox]:
    return {}


@pytest.fixture
def token_name() -> str:
    """The token under test; modules parametrize it to run on both."""
    return MOCK_USDC


def session_sandbox(sandboxes: dict[str, Sandbox], token: str) -> Sandbox:
    if token not in sandboxes:
        if token == CIRCLE_USDC:
            require_circle_usdc()
        sb = Sandbox(token=token)
        for who in ("renter", "renter2", "stranger"):
            sb.mint(who, RENTER_FUNDS)
        sandboxes[token] = sb
    return sandboxes[token]


@pytest.fixture
def sb(
    _sandboxes: dict[str, Sandbox], token_name: str, request: pytest.FixtureRequest
) -> Iterator[Sandbox]:
    box = session_sandbox(_sandboxes, token_name)
    snap = box.snapshot()
    try:
        yield box
        callspec = getattr(request.node, "callspec", None)
        if callspec is not None and "token_name" in callspec.params:
            assert_money_conserved(box)
    finally:
        box.revert(snap)


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """One anvil node (real JSON-RPC on loopback) for every test that needs it."""
    with running_anvil() as url:
        yield url
