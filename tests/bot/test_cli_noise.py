"""`rigshare --help` and `rigshare-agent --help` print help, not cryptography's DSA warnings."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["bot.cli", "provider_agent.cli"])
def test_help_prints_no_dsa_deprecation_warnings(module):
    run = subprocess.run(
        [sys.executable, "-W", "default", "-c", f"import sys; sys.argv[1:] = ['--help']; "
         f"from {module} import main; main()"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "usage:" in run.stdout
    assert "DSA is deprecated" not in run.stderr, run.stderr
