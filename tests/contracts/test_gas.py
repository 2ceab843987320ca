"""Gas stays within the goals on Circle's USDC (regression guard for tests.bench.gas_report).

Gas is deterministic, so the figures are asserted, not timed. Two goals are out of reach for any
escrow and are bounded instead (docs/benchmarks.md, contracts/README.md): extend by authorization
(USDC's own EIP-3009 call costs more than the goal) and the wanted 250,000 for a whole rental
(ESCROW.md's 300,000 holds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.gas_report import SECTION, Row, measure, render, update
from tests.contracts.helpers import require_circle_usdc

WHOLE = "whole rental (open by authorization + start + stopAndSettle)"
TOKEN_ALONE = "the token's receiveWithAuthorization alone, sent by the payee (no escrow)"


@pytest.fixture(scope="module")
def rows() -> dict[str, Row]:
    require_circle_usdc()
    return {row.step: row for row in measure()}


def test_every_goal_is_met_on_usdc_except_the_two_out_of_reach(rows: dict[str, Row]) -> None:
    missed = {step for step, row in rows.items() if not row.met}
    assert missed == {"extend by authorization", WHOLE}
    # extend: the token's own EIP-3009 call is above the goal, the escrow adds a bounded share
    assert rows[TOKEN_ALONE].gas > 80_000
    assert rows["extend by authorization"].gas - rows[TOKEN_ALONE].gas <= 23_500
    assert rows["extend by authorization"].gas <= 109_000  # 108,663 before the repacking
    assert rows[WHOLE].gas <= 286_500  # 293,509 before; ESCROW.md's goal is 300,000
    assert rows["open by authorization, first rental of a fresh escrow (one-time slots)"].gas <= (
        192_043
    )
    assert rows["start"].gas <= 31_500 and rows["stop"].gas <= 32_000


# Rental ids hash the wall-clock quote time and the escrow's address, so the calldata of a
# step that passes an id differs between the two runs by its zero bytes (4 gas) versus other
# bytes (16 gas): at most 32 bytes * 12 gas. Anything above that is the token's own cost.
ID_CALLDATA_SPREAD = 32 * 12


def test_mock_usdc_figures_stay_below_the_real_tokens(rows: dict[str, Row]) -> None:
    for step, row in rows.items():
        assert row.mock_gas <= row.gas + ID_CALLDATA_SPREAD, step
    assert rows[WHOLE].mock_gas <= 268_000


def test_report_renders_both_tokens_and_updates_only_its_section(
    rows: dict[str, Row], tmp_path: Path
) -> None:
    section = render(list(rows.values()), today="2026-01-01")
    assert section.startswith(SECTION)
    start = rows["start"]
    assert f"| start | <= 40,000 | {start.gas:,} | {start.mock_gas:,} |" in section
    assert "| USDC (FiatTokenV2_2) | MockUSDC |" in section
    assert "| python -m tests.bench.gas_report | 2026-01-01 |" in section
    assert f"costs {rows[TOKEN_ALONE].gas:,}" in section
    doc = tmp_path / "benchmarks.md"
    update(doc, section)
    assert doc.read_text().startswith("# Benchmarks\n\n## Escrow gas\n")
    doc.write_text("# Benchmarks\n\n## Other\n\nkeep me\n\n" + section + "\n## Later\n\nme too\n")
    update(doc, render(list(rows.values()), today="2026-02-02"))
    text = doc.read_text()
    assert "keep me" in text and "me too" in text
    assert "2026-02-02" in text and "2026-01-01" not in text
    assert text.count(SECTION) == 1
