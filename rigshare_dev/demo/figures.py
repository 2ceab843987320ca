"""The demo's closing figures, read from the chain itself rather than from the database."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.bootstrap import App
from core.domain.billing import platform_fee
from core.domain.model import Rental
from core.domain.money import format_usdc


@dataclass
class Figures:
    renter_start: int = 0
    signed_at: float | None = None  # monotonic time the renter's wallet answered
    login_at: float | None = None  # monotonic time the renter's SSH command returned
    gas: int = 0
    conserved: bool = False
    renter_credit: int = 0  # what a dispute decision gave back for downtime

    @property
    def signature_to_login_s(self) -> float | None:
        if self.signed_at is None or self.login_at is None:
            return None
        return self.login_at - self.signed_at


@dataclass
class MoneyCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)


async def rental_gas(app: App, escrow_id: str) -> int:
    """Gas of every transaction that emitted an event of this rental (open ... settlement)."""
    w3 = app.escrow.w3
    topic = bytes.fromhex(escrow_id.removeprefix("0x"))
    total = 0
    latest = await w3.eth.block_number
    for number in range(1, latest + 1):
        block = await w3.eth.get_block(number)
        for tx in block["transactions"]:
            receipt = await w3.eth.get_transaction_receipt(tx)
            if any(topic in (bytes(t) for t in log["topics"]) for log in receipt["logs"]):
                total += int(receipt["gasUsed"])
    return total


async def money_check(app: App, r: Rental, renter: str, renter_start: int) -> MoneyCheck:
    """Every micro-USDC accounted for: the renter paid exactly the bill, the provider got the
    bill minus the fee, the fee sits in the escrow for the treasury, nothing else remains."""
    escrow = app.escrow
    contract = escrow.contract
    renter_now = await escrow.balance_of(renter)
    provider_now = await escrow.balance_of(r.provider_address)
    held = await escrow.balance_of(escrow.address)
    fees = int(await contract.functions.feesAccrued().call())
    locked = int(await contract.functions.totalLocked().call())
    gross = r.deposit - r.refund
    checks = [
        (
            "renter paid exactly the bill",
            renter_start - renter_now == gross,
            f"{format_usdc(renter_start)} -> {format_usdc(renter_now)}",
        ),
        (
            "provider received the bill minus the fee",
            provider_now == r.provider_net == gross - r.fee,
            format_usdc(provider_now),
        ),
        (
            "fee is the bill times the fee rate",
            r.fee == platform_fee(gross, r.fee_bps) == fees,
            f"{format_usdc(r.fee)} ({r.fee_bps / 100:.0f} %)",
        ),
        (
            "escrow holds only the accrued fee",
            held == fees and locked == 0,
            format_usdc(held),
        ),
        (
            "provider + fee + refund = deposit",
            r.provider_net + r.fee + r.refund == r.deposit,
            format_usdc(r.deposit),
        ),
    ]
    lines = [f"  {'ok ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in checks]
    return MoneyCheck(all(ok for _, ok, _ in checks), ["money conservation:", *lines])
