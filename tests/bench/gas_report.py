"""Escrow gas report: runs real rentals on the in-process EVM and prints benchmark rows.

usage: python -m tests.bench.gas_report [--update docs/benchmarks.md]

Every figure is a whole-transaction ``gasUsed`` (21,000 intrinsic + calldata + execution) of the
committed artifact, in steady state: a second rental on an escrow, token and accounts that have
been used before, as in production. Each row is measured twice: against MockUSDC and against
Circle's FiatTokenV2_2 behind its proxy (``tests.contracts.circle_usdc``; the npm toolchain must be
installed), whose figures are what production pays and what the goals are judged on. First-use
figures (fresh storage slots) are printed as extra rows. ``--update`` rewrites only the
``## Escrow gas`` section of the file.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from eth_utils import keccak

from contracts.artifacts import compiler_info
from contracts.typed_data import receive_with_authorization, split_signature, stop_message
from tests.contracts import circle_usdc
from tests.contracts.sandbox import CIRCLE_USDC, MOCK_USDC, USDC, Sandbox

COMMAND = "python -m tests.bench.gas_report"
SECTION = "## Escrow gas"


@dataclass(frozen=True, slots=True)
class Row:
    """One measured step: ``gas`` on Circle's USDC (judged against ``target``), ``mock_gas`` on
    MockUSDC for comparison."""

    step: str
    target: int | None
    gas: int
    mock_gas: int
    note: str = ""

    @property
    def met(self) -> bool:
        return self.target is None or self.gas <= self.target


def _gas(receipt) -> int:
    return int(receipt["gasUsed"])


def measure() -> list[Row]:
    """Runs the rentals on both tokens; one row per step (raises CircleUsdcMissing without the
    npm toolchain)."""
    circle_usdc.load("FiatTokenV2_2")  # fail early, with the install hint
    real, mock = measure_token(CIRCLE_USDC), measure_token(MOCK_USDC)
    return [
        Row(step, target, real[step], mock[step], NOTES.get(step, "")) for step, target in STEPS
    ]


STEPS: tuple[tuple[str, int | None], ...] = (
    ("open by authorization (relayed)", 190_000),
    ("start", 40_000),
    ("extend by authorization", 80_000),
    ("stop", 45_000),
    ("stopAndSettle", 100_000),
    ("finalize", 125_000),
    ("whole rental (open by authorization + start + stopAndSettle)", 250_000),
    ("extend by transaction (approve beforehand)", 80_000),
    ("stop with signature + settle (relayed)", 100_000),
    ("open by transaction (approve beforehand)", None),
    ("openDispute", None),
    ("resolve (arbiter)", None),
    ("withdrawFees", None),
    ("open by authorization, first rental of a fresh escrow (one-time slots)", None),
    ("whole rental, first of a fresh escrow and provider (one-time slots)", None),
    ("the token's receiveWithAuthorization alone, sent by the payee (no escrow)", None),
)
NOTES = {
    "extend by authorization": "the goal is below what USDC's EIP-3009 call alone costs (see note)",
    "whole rental (open by authorization + start + stopAndSettle)": "see note",
}


def measure_token(token: str) -> dict[str, int]:
    """Runs the rentals against ``token``; gas by step name."""
    sb = Sandbox(token=token)
    f = sb.escrow.functions
    sb.mint("renter", 1_000 * USDC)

    # rental 1 on a fresh escrow: first-use costs, and it warms storage up for steady state
    t1 = sb.terms(listing=1)
    rid1, r = sb.open_by_authorization(t1)
    first_open = _gas(r)
    first_start = _gas(sb.send(f.start(rid1), "operator"))
    sb.advance(1800)
    first_settle = _gas(sb.send(f.stopAndSettle(rid1), "renter"))

    # rental 2: open, start, extend, stop, finalize after the challenge window
    rid2, r = sb.open_by_authorization(sb.terms(listing=2))
    open_auth = _gas(r)
    start = _gas(sb.send(f.start(rid2), "operator"))
    sb.advance(600)
    extend_auth = _gas(sb.extend_by_authorization(rid2, 2 * USDC))
    sb.send(sb.token.functions.approve(sb.escrow.address, 100 * USDC), "renter")
    extend_tx = _gas(sb.send(f.extend(rid2, 2 * USDC), "renter"))
    sb.advance(600)
    stop = _gas(sb.send(f.stop(rid2), "renter"))
    sb.advance(sb.params.challenge_window)
    finalize = _gas(sb.send(f.finalize(rid2), "stranger"))

    # rental 3: the whole happy path, renter sends stopAndSettle
    rid3, r = sb.open_by_authorization(sb.terms(listing=3))
    happy_open = _gas(r)
    happy_start = _gas(sb.send(f.start(rid3), "operator"))
    sb.advance(3600)
    stop_and_settle = _gas(sb.send(f.stopAndSettle(rid3), "renter"))

    # rental 4: the gasless renter: signed Stop with settle, relayed by the operator
    rid4, _ = sb.open_by_authorization(sb.terms(listing=4))
    sb.send(f.start(rid4), "operator")
    now = sb.advance(3600)
    typed = stop_message(sb.escrow_domain(), rid4, True, now + 600)
    signed_settle = _gas(
        sb.send(
            f.stopWithSignature(rid4, True, now + 600, sb.sign_typed("renter", typed)), "operator"
        )
    )

    # rental 5: dispute and arbiter; open by approve for comparison
    t5 = sb.terms(listing=5)
    open_tx = _gas(sb.send(f.open(t5.as_tuple()), "renter"))
    rid5 = sb.rental_id(t5)
    sb.send(f.start(rid5), "operator")
    sb.advance(600)
    dispute = _gas(sb.send(f.openDispute(rid5, keccak(text="evidence")), "renter"))
    resolve = _gas(sb.send(f.resolve(rid5, 100_000), "arbiter"))
    fees = _gas(sb.send(f.withdrawFees(), "stranger"))

    # the floor under every authorization path: the token's own EIP-3009 call, no escrow (the
    # payee already holds USDC, as the escrow does in steady state)
    sb.mint("stranger", USDC)
    now = sb.next_timestamp()
    typed = receive_with_authorization(
        sb.token_domain(), sb.addr("renter"), sb.addr("stranger"), USDC, 0, now + 600, b"\x07" * 32
    )
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    call = sb.token.functions.receiveWithAuthorization(
        sb.addr("renter"), sb.addr("stranger"), USDC, 0, now + 600, b"\x07" * 32, v, r, s
    )
    token_alone = _gas(sb.send(call, "stranger"))

    gas = [
        open_auth,
        start,
        extend_auth,
        stop,
        stop_and_settle,
        finalize,
        happy_open + happy_start + stop_and_settle,
        extend_tx,
        signed_settle,
        open_tx,
        dispute,
        resolve,
        fees,
        first_open,
        first_open + first_start + first_settle,
        token_alone,
    ]
    return dict(zip((step for step, _ in STEPS), gas, strict=True))


def _machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        mem = ""
    return f"{os.cpu_count()} cores{mem}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def render(rows: list[Row], today: str | None = None) -> str:
    """The ``## Escrow gas`` section: context line, table, notes (with the measured figures)."""
    today = today or datetime.now(UTC).date().isoformat()
    info = compiler_info()
    settings = info["settings"]
    by_step = {row.step: row for row in rows}
    lines = [
        SECTION,
        "",
        f"Machine: {_machine()}. EVM: py-evm {version('py-evm')} via eth-tester "
        f"{version('eth-tester')}; solc {info['compiler']['version'].split('+')[0]} "
        f"(optimizer {settings['optimizer']['runs']} runs, viaIR {settings['viaIR']}, "
        f"evm {settings['evmVersion']}). Tokens: Circle's USDC (FiatTokenV2_2 behind "
        f"FiatTokenProxy from npm {circle_usdc.PACKAGE}, initialised like mainnet), the figure "
        "the goals are judged on, and MockUSDC beside it. Whole-transaction gasUsed, steady "
        "state unless the row says first. Generated by `python -m tests.bench.gas_report "
        "--update docs/benchmarks.md`.",
        "",
        "| measure | goal | USDC (FiatTokenV2_2) | MockUSDC | command | date |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        goal = f"<= {row.target:,}" if row.target is not None else "(no goal)"
        lines.append(
            f"| {row.step} | {goal} | {row.gas:,} | {row.mock_gas:,} | {COMMAND} | {today} |"
        )
    missed = [row for row in rows if not row.met]
    if missed:
        lines += ["", "Goals missed (USDC):"]
        lines += [f"- {row.step}: {row.gas:,} > {row.target:,}; {row.note}" for row in missed]
    extend = by_step["extend by authorization"]
    alone = by_step["the token's receiveWithAuthorization alone, sent by the payee (no escrow)"]
    whole = by_step["whole rental (open by authorization + start + stopAndSettle)"]
    lines += [
        "",
        f"Note on extend by authorization: USDC's `receiveWithAuthorization` by itself, sent "
        f"directly by the payee with no escrow involved, costs {alone.gas:,} "
        f"({alone.mock_gas:,} on MockUSDC): 21,000 intrinsic, 22,100 for the fresh EIP-3009 "
        "nonce slot, the proxy's delegatecall, the SignatureChecker library call, ecrecover, "
        "the signer's code-size check, the pause and two blocklist/balance slots. That alone is "
        f"above 80,000, so no escrow can meet the goal on this path; the escrow's share is "
        f"{extend.gas - alone.gas:,} (the cold token call, two rental slots, the totals, the "
        "balance-delta check that ESCROW.md requires, ~3,400, and the event). The transaction "
        "path (approve + extend) meets 80,000.",
        "",
        f"Note on the whole rental: {whole.gas:,} meets ESCROW.md's 300,000 but not the wanted "
        "250,000. Opening alone pays the same EIP-3009 floor plus three fresh storage slots "
        "(66,300) for the rental record (renter, provider, amounts, clocks, snapshotted fee and "
        "arbiter); 250,000 needs a rental in two slots or recycled storage, which would narrow "
        "the types to the point of fragility or drop the closed rentals' data from getRental "
        "(contracts/README.md).",
        "",
        "Note on first use: the very first rental of a new escrow creates the escrow's token "
        "balance slot (+17,100 at open) and a provider's first payout creates its token balance "
        "slot (+17,100 at settlement); both happen once.",
        "",
    ]
    return "\n".join(lines)


def update(path: Path, section: str) -> None:
    """Adds or replaces the ``## Escrow gas`` section of ``path`` (created with ``# Benchmarks``)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", type=Path, help="rewrite the Escrow gas section of this file")
    args = parser.parse_args(argv)
    section = render(measure())
    sys.stdout.write(section + "\n")
    if args.update:
        update(args.update, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
