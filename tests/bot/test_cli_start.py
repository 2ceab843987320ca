"""`rigshare --help` and `rigshare-agent --help` answer without importing the chain, chat,
database or HTTP libraries (they took seconds to import: issue 13). Not a timing test: the
figures are in docs/benchmarks.md ("CLI start")."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("web3", "aiogram", "discord", "sqlalchemy", "aiohttp", "pydantic", "eth_account")
PROBE = """
import sys
from {module} import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = {heavy!r}
print("LOADED:" + ",".join(sorted(m for m in heavy if m in sys.modules)))
"""


@pytest.mark.parametrize("module", ["bot.cli", "provider_agent.cli"])
def test_help_imports_no_heavy_library(module):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "usage:" in out
    (loaded,) = [line for line in out.splitlines() if line.startswith("LOADED:")]
    assert loaded == "LOADED:", f"--help imported {loaded.removeprefix('LOADED:')}"


def test_a_command_still_loads_what_it_needs():
    # the lazy imports resolve: the modules they name exist and import
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bot.serve, bot.deploy, provider_agent.run; print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip() == "ok"
