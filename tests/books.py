"""The books after a load: every rental in a resting state, the database agreeing with the
in-memory escrow, every settlement split exactly, and the escrow's token ledger conserved.

Used by the overload test (tests/bot/telegram/test_overload.py) and the load benchmark
(tests/bench/bench_load.py; ``rental_books`` also by bench_load_scaleout.py, whose escrow is
the contract on anvil).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from core.domain.billing import billed, platform_fee
from core.domain.rentals import RentalState as S
from rigshare_dev.fakes.escrow import FAKE_CONTRACT

RESTING = {S.SETTLED, S.CANCELLED, S.RESOLVED, S.QUOTED}
# the escrow's status of a rental each database state may show (None: never opened there)
ESCROW_STATUS = {
    S.QUOTED: {None},
    S.AWAITING_PAYMENT: {None},
    S.CANCELLED: {None, "Closed"},
    S.FUNDED: {"Pending"},
    S.PROVISIONING: {"Pending"},
    S.ACTIVE: {"Active"},
    S.ENDED: {"Ended"},
    S.DISPUTED: {"Disputed"},
    S.SETTLED: {"Closed"},
    S.RESOLVED: {"Closed"},
}


@dataclass
class Books:
    rentals: int = 0
    settled: int = 0
    stuck: list[tuple[int, str]] = field(default_factory=list)  # not in a resting state
    disagree: list[tuple[int, str, str | None]] = field(default_factory=list)  # DB vs escrow
    double: list[tuple[int, int]] = field(default_factory=list)  # rentals on a GPU at once
    bad_split: list[int] = field(default_factory=list)
    ledger_ok: bool = True  # every micro-USDC minted is still somewhere; nothing locked
    ledger: tuple[int, int] = (0, 0)  # (created or destroyed, contract's surplus)
    locked: int = 0  # deposits still in the escrow

    @property
    def ok(self) -> bool:
        return (
            not self.stuck
            and not self.disagree
            and not self.double
            and not self.bad_split
            and self.ledger_ok
        )

    def summary(self) -> str:
        return (
            f"{self.rentals} rentals, {self.settled} settled; {len(self.double)} double bookings "
            f"{self.double[:5]}, "
            f"{len(self.stuck)} stuck {self.stuck[:5]}, {len(self.disagree)} disagreeing with "
            f"the escrow {self.disagree[:5]}, {len(self.bad_split)} inexact splits, ledger "
            f"{'conserved' if self.ledger_ok else 'BROKEN'} (created {self.ledger[0]}, contract "
            f"surplus {self.ledger[1]}, locked {self.locked})"
        )


def rental_books(rentals) -> Books:  # noqa: ANN001 - core.domain.model.Rental rows
    """What the rentals themselves say: which are not at rest, which overlapped on one GPU,
    which settlements are not split exactly."""
    books = Books(rentals=len(rentals))
    spans = defaultdict(list)
    for r in rentals:
        state = S(r.state)
        if state not in RESTING:
            books.stuck.append((r.id, state.value))
        if r.started_at is not None:
            # a GPU's UUID is unique on its machine (simulated hosts all say GPU-0000-...)
            for gpu in r.gpu_uuids or ["*"]:
                spans[(r.listing_id, gpu)].append((r.started_at, r.ended_at or r.started_at, r.id))
        if state == S.SETTLED:
            books.settled += 1
            gross = billed(min(r.ended_at, r.paid_until) - r.started_at, r.price_per_hour)
            fee = platform_fee(gross, r.fee_bps)
            if (r.provider_net, r.fee, r.refund) != (gross - fee, fee, r.deposit - gross):
                books.bad_split.append(r.id)
    for gpu_spans in spans.values():
        gpu_spans.sort()
        books.double += [
            (a[2], b[2]) for a, b in zip(gpu_spans, gpu_spans[1:], strict=False) if b[0] < a[1]
        ]
    return books


async def all_rentals(app) -> list:  # noqa: ANN001 - the App of bot.bootstrap
    async with app.rentals.uow(readonly=True) as uow:
        return list(await uow.rentals.in_states(tuple(S), limit=10**7))


async def audit(app) -> Books:  # noqa: ANN001 - the App of bot.bootstrap on the fake escrow
    escrow = app.escrow
    rentals = await all_rentals(app)
    books = rental_books(rentals)
    for r in rentals:
        on_chain = escrow.rentals.get(r.escrow_id) if r.escrow_id else None
        status = on_chain.status if on_chain is not None else None
        if status not in ESCROW_STATUS[S(r.state)]:
            books.disagree.append((r.id, S(r.state).value, status))
    # every account the token has seen started with the faucet's amount (the contract with
    # nothing): the total never changes; the contract holds exactly the fees, the deposits
    # still locked and the payouts parked for a claim; at rest nothing is locked
    contract = FAKE_CONTRACT.lower()
    accounts = sum(1 for a in escrow.balances if a != contract)
    held = escrow.balances.get(contract, 0)
    owed = escrow.fees_accrued + escrow.locked + sum(escrow.claimable_of.values())
    books.ledger = (sum(escrow.balances.values()) - escrow.faucet * accounts, held - owed)
    books.locked = escrow.locked
    books.ledger_ok = books.ledger == (0, 0) and escrow.locked == 0
    return books
