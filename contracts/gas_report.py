"""Escrow gas report: runs real rentals on the in-process EVM and prints benchmark rows.

usage: python -m contracts.gas_report [--update docs/benchmarks.md]

Every figure is a whole-transaction ``gasUsed`` (21,000 intrinsic + calldata + execution) of the
committed artifact against MockUSDC, in steady state: a second rental on an escrow, token and
accounts that have been used before, as in production. First-use figures (fresh storage slots)
are printed as extra rows. ``--update`` rewrites only the ``## Escrow gas`` section of the file.
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
from contracts.sandbox import MOCK_USDC, USDC, Sandbox
from contracts.typed_data import stop_message

COMMAND = "python -m contracts.gas_report"
SECTION = "## Escrow gas"


@dataclass(frozen=True, slots=True)
class Row:
    step: str
    target: int | None
    gas: int
    note: str = ""

    @property
    def met(self) -> bool:
        return self.target is None or self.gas <= self.target


def _gas(receipt) -> int:
    return int(receipt["gasUsed"])


def measure(token: str = MOCK_USDC) -> list[Row]:
    """Runs the rentals against ``token`` and returns one row per measured step."""
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

    whole = happy_open + happy_start + stop_and_settle
    whole_first = first_open + first_start + first_settle
    return [
        Row("open by authorization (relayed)", 190_000, open_auth),
        Row("start", 40_000, start),
        Row(
            "extend by authorization",
            80_000,
            extend_auth,
            "EIP-3009 alone costs ~73k as a direct tx (see note)",
        ),
        Row("stop", 45_000, stop),
        Row("stopAndSettle", 100_000, stop_and_settle),
        Row("finalize", 125_000, finalize),
        Row("whole rental (open by authorization + start + stopAndSettle)", 300_000, whole),
        Row("extend by transaction (approve beforehand)", 80_000, extend_tx),
        Row("stop with signature + settle (relayed)", 100_000, signed_settle),
        Row("open by transaction (approve beforehand)", None, open_tx),
        Row("openDispute", None, dispute),
        Row("resolve (arbiter)", None, resolve),
        Row("withdrawFees", None, fees),
        Row(
            "open by authorization, first rental of a fresh escrow (one-time slots)",
            None,
            first_open,
        ),
        Row(
            "whole rental, first of a fresh escrow and provider (one-time slots)", None, whole_first
        ),
    ]


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
    """The ``## Escrow gas`` section: context line, table, notes."""
    today = today or datetime.now(UTC).date().isoformat()
    info = compiler_info()
    settings = info["settings"]
    lines = [
        SECTION,
        "",
        f"Machine: {_machine()}. EVM: py-evm {version('py-evm')} via eth-tester "
        f"{version('eth-tester')}; solc {info['compiler']['version'].split('+')[0]} "
        f"(optimizer {settings['optimizer']['runs']} runs, viaIR {settings['viaIR']}, "
        f"evm {settings['evmVersion']}); token: MockUSDC. Whole-transaction gasUsed, steady "
        "state unless the row says first. Generated by `python -m contracts.gas_report "
        "--update docs/benchmarks.md`.",
        "",
        "| measure | goal | figure | command | date |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        goal = f"<= {row.target:,}" if row.target is not None else "(no goal)"
        lines.append(f"| {row.step} | {goal} | {row.gas:,} | {COMMAND} | {today} |")
    missed = [row for row in rows if not row.met]
    if missed:
        lines += ["", "Goals missed:"]
        lines += [f"- {row.step}: {row.gas:,} > {row.target:,}. {row.note}" for row in missed]
    lines += [
        "",
        "Note on extend by authorization: the token's `receiveWithAuthorization` by itself, sent "
        "directly by the payee, costs about 72,800 gas on MockUSDC (21,000 intrinsic, ~22,100 "
        "for the fresh EIP-3009 nonce slot, ~3,000 ecrecover, balance and blocklist/pause "
        "checks); real USDC adds its proxy. The escrow's share (rental slots, totals, balance-"
        "delta check, event) is ~21,000, so 80,000 is out of reach for the authorization path; "
        "the transaction path (approve + extend) meets it.",
        "",
        "Note on first use: the very first rental of a new escrow creates the escrow's token "
        "balance slot (+17,100 at open) and a provider's first payout creates its token balance "
        "slot (+17,100 at settlement); both happen once, which is why that first whole rental is "
        "above 300,000 while every later one is below.",
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
