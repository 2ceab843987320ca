"""After the processes have come and gone: does the database agree with the chain and the agents?

``reconcile`` lists every disagreement (an empty list is a pass):

- each rental's state against the escrow's status for its id (``STATE_ON_CHAIN``);
- every escrow event on chain is mirrored exactly once (tx hash, log index), none invented;
- settled rentals: provider payout + fee + refund = deposit to the micro-USDC, the same
  figures in the database and in the contract's RentalSettled event;
- the escrow holds exactly what it owes: the deposits of the rentals that are not closed on
  chain, the fees settled so far and anything left claimable;
- every agent's installed keys are exactly those of the active rentals on its machine, each
  with the rental's own public key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from core.db import tables
from core.db.engine import Database
from core.domain.rentals import RentalState as S
from tests.system.chain import SystemChain

# the escrow's status for each database state (cancelled depends on whether it was ever paid)
STATE_ON_CHAIN = {
    S.AWAITING_PAYMENT: "None",
    S.FUNDED: "Pending",
    S.PROVISIONING: "Pending",
    S.ACTIVE: "Active",
    S.ENDED: "Ended",
    S.DISPUTED: "Disputed",
    S.SETTLED: "Closed",
    S.RESOLVED: "Closed",
}


@dataclass(frozen=True)
class RentalRow:
    id: int
    state: str
    escrow_id: str | None
    machine_id: int
    deposit: int
    provider_net: int | None
    fee: int | None
    refund: int | None
    billed: int | None
    settle_tx: str | None
    public_key: str | None
    renter_id: int


async def rentals(db: Database) -> dict[int, RentalRow]:
    r = tables.rentals.c
    cols = [getattr(r, f) for f in RentalRow.__dataclass_fields__]
    async with db.read.connect() as conn:
        rows = (await conn.execute(select(*cols))).all()
    return {row.id: RentalRow(*row) for row in rows}


async def mirrored_events(db: Database) -> list[tuple[str, int, str, str]]:
    c = tables.chain_events.c
    async with db.read.connect() as conn:
        rows = await conn.execute(select(c.tx_hash, c.log_index, c.name, c.escrow_id))
        return [tuple(x) for x in rows]


async def reconcile(
    db: Database, chain: SystemChain, agents: Mapping[int, Mapping[str, str]]
) -> list[str]:
    """Disagreements between the database, the chain and the agents (``agents``: machine id
    -> rental id -> installed key line)."""
    problems: list[str] = []
    by_id = await rentals(db)
    events = await chain.events()
    settled = {e.escrow_id: e for e in events if e.name == "RentalSettled"}
    open_deposits = 0
    for rental in by_id.values():
        if rental.escrow_id is None:
            continue
        view = await chain.rental(rental.escrow_id)
        status = view["status"]
        expected = STATE_ON_CHAIN.get(rental.state)
        if rental.state == S.CANCELLED:
            expected = "Closed" if rental.settle_tx else "None"
        if rental.state == S.QUOTED:
            expected = "None"
        if status != expected:
            problems.append(f"rental {rental.id}: {rental.state} in the db, {status} on chain")
        if status not in ("None", "Closed"):
            open_deposits += int(view["deposit"])
        if status == "Closed":
            problems += _money(rental, int(view["deposit"]), settled.get(rental.escrow_id))
    problems += _events(events, await mirrored_events(db), {r.escrow_id for r in by_id.values()})
    problems += await _books(chain, open_deposits, settled.values())
    problems += _access(by_id, agents)
    return problems


async def _books(chain: SystemChain, open_deposits: int, settlements) -> list[str]:
    """The escrow's token balance is exactly what it owes: the open deposits, the fees of the
    settled rentals (not withdrawn here) and anything left claimable."""
    c = chain.escrow.contract.functions
    locked, fees, claimable = (
        int(await c.totalLocked().call()),
        int(await c.feesAccrued().call()),
        int(await c.totalClaimable().call()),
    )
    out = []
    if locked != open_deposits:
        out.append(f"escrow has {locked} locked, the open rentals' deposits are {open_deposits}")
    if fees != sum(int(e.args["fee"]) for e in settlements):
        out.append(f"escrow accrued {fees} in fees, its settlements say otherwise")
    held = await chain.balance(chain.escrow.address)
    if held != locked + fees + claimable:
        out.append(f"escrow holds {held}, owes {locked} + {fees} + {claimable}")
    return out


def _money(rental: RentalRow, deposit: int, event: object) -> list[str]:
    if event is None:
        return [f"rental {rental.id}: closed on chain without a RentalSettled event"]
    a = event.args
    net, fee, refund = int(a["providerNet"]), int(a["fee"]), int(a["refund"])
    out = []
    if net + fee + refund != deposit:
        out.append(f"rental {rental.id}: {net} + {fee} + {refund} != deposit {deposit}")
    if (rental.provider_net, rental.fee, rental.refund) != (net, fee, refund):
        out.append(
            f"rental {rental.id}: db settled {rental.provider_net}/{rental.fee}/{rental.refund},"
            f" chain {net}/{fee}/{refund}"
        )
    if rental.deposit != deposit:
        out.append(f"rental {rental.id}: db deposit {rental.deposit}, chain {deposit}")
    if rental.billed is not None and rental.billed != net + fee:
        out.append(f"rental {rental.id}: billed {rental.billed} != {net} + {fee}")
    return out


def _events(chain_events: list, mirrored: list[tuple], ours: set) -> list[str]:
    out = []
    on_chain = Counter((e.tx_hash, e.log_index) for e in chain_events if e.escrow_id in ours)
    in_db = Counter((tx, idx) for tx, idx, _, _ in mirrored)
    for key, n in in_db.items():
        if n > 1:
            out.append(f"event {key} applied {n} times")
        if key not in on_chain:
            out.append(f"event {key} in the db is not on chain")
    for key in on_chain:
        if key not in in_db:
            out.append(f"event {key} on chain was never applied")
    return out


def _access(by_id: Mapping[int, RentalRow], agents: Mapping[int, Mapping[str, str]]) -> list[str]:
    out = []
    for machine_id, installed in agents.items():
        active = {
            str(r.id): r
            for r in by_id.values()
            if r.machine_id == machine_id and r.state == S.ACTIVE
        }
        if set(installed) != set(active):
            out.append(
                f"machine {machine_id}: agent grants {sorted(installed)}, active {sorted(active)}"
            )
        for rental_id, line in installed.items():
            rental = active.get(rental_id)
            key = " ".join((rental.public_key or "").split()[:2]) if rental else None
            if rental is not None and (not key or key not in line):
                out.append(f"rental {rental_id}: the agent installed another key")
    return out


async def handled_once(db: Database, renters) -> list[str]:
    """No chat update was handled twice: each renter has no more quotes than the /rent
    updates it sent (one offer per model and region, so each /rent makes exactly one) and no
    rental more stop requests than the /stop updates its renter sent."""
    u, r, p = tables.users.c, tables.rentals.c, tables.pending_signatures.c
    out = []
    async with db.read.connect() as conn:
        for renter in renters:
            user_id = await conn.scalar(
                select(u.id).where(u.platform == "telegram", u.chat_id == str(renter.user_id))
            )
            quotes = await conn.scalar(
                select(func.count()).select_from(tables.rentals).where(r.renter_id == user_id)
            )
            stops = await conn.scalar(
                select(func.count())
                .select_from(tables.pending_signatures)
                .where(p.user_id == user_id, p.kind == "stop")
            )
            if quotes > renter.commands["/rent"]:
                out.append(f"renter {renter.user_id}: {quotes} quotes for {renter.commands}")
            if stops > renter.commands["/stop"]:
                out.append(f"renter {renter.user_id}: {stops} stop requests for {renter.commands}")
    return out
