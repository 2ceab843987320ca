"""Gas stays within the ESCROW.md goals (regression guard for contracts.gas_report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.gas_report import SECTION, Row, measure, render, update


@pytest.fixture(scope="module")
def rows() -> dict[str, Row]:
    return {row.step: row for row in measure()}


def test_every_goal_is_met_except_extend_by_authorization(rows: dict[str, Row]) -> None:
    missed = {step for step, row in rows.items() if not row.met}
    assert missed == {"extend by authorization"}
    # the one miss is bounded: EIP-3009's own ~73k plus the escrow's share
    assert rows["extend by authorization"].gas <= 96_000
    assert rows["whole rental (open by authorization + start + stopAndSettle)"].gas <= 300_000
    assert (
        rows["whole rental, first of a fresh escrow and provider (one-time slots)"].gas <= 312_000
    )


def test_report_renders_rows_and_updates_only_its_section(
    rows: dict[str, Row], tmp_path: Path
) -> None:
    section = render(list(rows.values()), today="2026-01-01")
    assert section.startswith(SECTION)
    assert "| start | <= 40,000 |" in section
    assert "| python -m contracts.gas_report | 2026-01-01 |" in section
    doc = tmp_path / "benchmarks.md"
    update(doc, section)
    assert doc.read_text().startswith("# Benchmarks\n\n## Escrow gas\n")
    doc.write_text("# Benchmarks\n\n## Other\n\nkeep me\n\n" + section + "\n## Later\n\nme too\n")
    update(doc, render(list(rows.values()), today="2026-02-02"))
    text = doc.read_text()
    assert "keep me" in text and "me too" in text
    assert "2026-02-02" in text and "2026-01-01" not in text
    assert text.count(SECTION) == 1
