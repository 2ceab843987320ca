"""Helpers shared by the contract tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.typed_data import RentalTerms
from tests.contracts import circle_usdc
from tests.contracts.sandbox import TOKENS, Sandbox

# Module mark (``pytestmark = ON_BOTH_TOKENS``): every test runs on MockUSDC and on Circle's
# FiatTokenV2_2, and after each one the books must balance to the unit (the ``sb`` fixture calls
# ``assert_money_conserved`` whenever ``token_name`` is parametrized).
ON_BOTH_TOKENS = pytest.mark.parametrize("token_name", TOKENS)


@dataclass
class Opened:
    """A rental opened through the gasless path."""

    id: bytes
    terms: RentalTerms
    opened_at: int


def open_rental(sb: Sandbox, renter: str = "renter", **terms_kwargs: object) -> Opened:
    terms = sb.terms(**terms_kwargs)  # type: ignore[arg-type]
    rid, receipt = sb.open_by_authorization(terms, renter=renter)
    return Opened(rid, terms, int(sb.w3.eth.get_block(receipt["blockNumber"])["timestamp"]))


def start_rental(sb: Sandbox, renter: str = "renter", **terms_kwargs: object) -> tuple[Opened, int]:
    """Opens and starts a rental; returns it with its startedAt."""
    opened = open_rental(sb, renter=renter, **terms_kwargs)
    receipt = sb.send(sb.escrow.functions.start(opened.id), "provider")
    return opened, int(sb.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def block_time(sb: Sandbox, receipt: Any) -> int:
    return int(sb.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def rental(sb: Sandbox, rid: bytes) -> dict:
    """``getRental`` as a dict keyed by the struct's field names."""
    fields = [
        "status",
        "renter",
        "provider",
        "arbiter",
        "deposit",
        "pricePerHour",
        "feeBps",
        "openedAt",
        "startedAt",
        "paidUntil",
        "endedAt",
        "disputedAt",
        "deadline",
    ]
    return dict(zip(fields, sb.escrow.functions.getRental(rid).call(), strict=True))


def balance(sb: Sandbox, who: str) -> int:
    return sb.token.functions.balanceOf(sb.addr(who)).call()


def settled(sb: Sandbox, receipt: Any) -> tuple[int, int, int]:
    (ev,) = sb.events(receipt, "RentalSettled")
    return ev["providerNet"], ev["fee"], ev["refund"]


class Status:
    NONE = 0
    PENDING = 1
    ACTIVE = 2
    ENDED = 3
    DISPUTED = 4
    CLOSED = 5


def assert_money_conserved(sb: Sandbox) -> None:
    """The escrow holds exactly what it owes (locked + claimable + fees), and every token unit
    minted is with a sandbox account or the escrow: nothing was created or lost."""
    f = sb.escrow.functions
    held = sb.token.functions.balanceOf(sb.escrow.address).call()
    owed = f.totalLocked().call() + f.totalClaimable().call() + f.feesAccrued().call()
    assert held == owed, f"escrow holds {held}, owes {owed}"
    holders = [sb.escrow.address, *(a.address for a in sb.accounts.values())]
    total = sum(sb.token.functions.balanceOf(h).call() for h in holders)
    assert total == sb.token.functions.totalSupply().call()


def require_circle_usdc() -> None:
    """Installs the npm toolchain when it is missing; skips (fails in CI) if that is impossible."""
    if not circle_usdc.available() and shutil.which("npm"):
        subprocess.run(  # noqa: S603 - fixed command
            ["bash", str(circle_usdc.TOOLCHAIN.parent / "toolchain.sh")],  # noqa: S607
            check=False,
            capture_output=True,
            timeout=300,
        )
    if circle_usdc.available():
        return
    message = (
        f"Circle's USDC artifacts ({circle_usdc.PACKAGE}) are not installed: "
        "run bash contracts/toolchain.sh"
    )
    if os.environ.get("CI"):
        pytest.fail(message + " (required in CI)")
    pytest.skip(message)
