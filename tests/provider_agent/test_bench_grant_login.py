"""The grant -> login benchmark stays runnable, and only ever rewrites its own doc section."""

from __future__ import annotations

from pathlib import Path

from provider_agent import bench_grant_login as bench
from provider_agent.ssh_access import SharedAccount


async def test_measure_smoke(shared: SharedAccount) -> None:
    samples = await bench.measure(shared, 3)
    assert len(samples) == 3 and all(0 < s < 10 for s in samples)
    line = bench.row("grant -> working SSH login p99", samples, "shared")
    assert line.startswith("| grant -> working SSH login p99 | <= 1 s | ") and line.endswith(" |")
    assert await shared.active() == set()


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 51)]
    assert bench.percentile(samples, 50) == 25.0 and bench.percentile(samples, 99) == 50.0


def test_update_doc_touches_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    bench.update_doc(doc, "## Provider agent\n\nold\n")
    assert doc.read_text() == "# Benchmarks\n\n## Provider agent\n\nold\n"
    escrow = "## Escrow gas\n\n| open | 1 |\n"
    doc.write_text(doc.read_text() + "\n" + escrow)
    bench.update_doc(doc, "## Provider agent\n\nnew\n")
    assert doc.read_text() == "# Benchmarks\n\n## Provider agent\n\nnew\n\n" + escrow
    doc.write_text("# Benchmarks\n\n" + escrow)
    bench.update_doc(doc, "## Provider agent\n\nx\n")
    assert doc.read_text() == "# Benchmarks\n\n" + escrow + "\n## Provider agent\n\nx\n"
