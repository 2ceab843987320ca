"""sshd log lines about one rental, as dispute evidence (never key material: sshd logs only
fingerprints)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

MAX_SCAN_BYTES = 2_000_000  # only the tail of a big log is read
MAX_LINES = 40
MAX_CHARS = 3_900  # fits one evidence text field


def rental_lines(path: Path, needles: Sequence[str]) -> list[str]:
    """The last lines of the log that mention any needle (a user name or key fingerprint)
    as a whole word. Raises OSError when the log cannot be read."""
    needles = [n for n in needles if n]
    if not needles:
        return []
    word = re.compile("|".join(rf"(?<![\w.+/-]){re.escape(n)}(?![\w+/-])" for n in needles))
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - MAX_SCAN_BYTES))
        tail = fh.read().decode("utf-8", "replace")
    hits = [line.rstrip() for line in tail.splitlines() if word.search(line)]
    kept: list[str] = []
    total = 0
    for line in reversed(hits[-MAX_LINES:]):
        line = line[:500]
        if total + len(line) + 1 > MAX_CHARS:
            break
        kept.append(line)
        total += len(line) + 1
    return kept[::-1]
