"""Benchmark output: table rows for docs/benchmarks.md, and updating one section of it."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADER = "| measure | goal | figure | command | date |\n|---|---|---|---|---|"


def machine() -> str:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {mem_kib // (1024 * 1024)} GiB, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    )


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def row(measure: str, goal: str, figure: str, command: str) -> str:
    return f"| {measure} | {goal} | {figure} | `{command}` | {today()} |"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def write_section(heading: str, rows: list[str], note: str = "") -> None:
    """Replace (or append) the section ``## heading`` of the benchmark document."""
    body = f"## {heading}\n\nMachine: {machine()}.{(' ' + note) if note else ''}\n\n{HEADER}\n"
    body += "\n".join(rows) + "\n"
    text = (
        DOC.read_text()
        if DOC.exists()
        else "# Benchmarks\n\nEvery figure comes from a run of the committed code; the command regenerates it.\n"
    )
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(body + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")


def section_rows(heading: str) -> list[str]:
    """The table rows now in the section ``## heading`` (none when it is absent)."""
    text = DOC.read_text() if DOC.exists() else ""
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if found is None:
        return []
    lines = found.group(1).splitlines()
    return [x for x in lines if x.startswith("| ") and x not in HEADER.splitlines()]
