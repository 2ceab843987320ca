"""docs/provider-agent.md shows the sshd_config lines the per-rental mode really needs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from provider_agent.ssh_accounts import PerRentalAccounts

DOC = Path(__file__).resolve().parents[2] / "docs" / "provider-agent.md"


def test_sshd_snippet_in_docs_matches_the_code():
    defaults = SimpleNamespace(_prefix="rs-", _keys_dir=Path("/etc/ssh/rigshare"))
    snippet = PerRentalAccounts.sshd_config_snippet(defaults)  # type: ignore[arg-type]
    assert snippet in DOC.read_text()


def test_systemd_unit_keeps_the_token_out_of_the_command_line():
    text = DOC.read_text()
    assert "EnvironmentFile=/etc/rigshare-agent.env" in text
    assert "RestartPreventExitStatus=4" in text
    assert "--token" not in text.split("[Service]")[1].split("[Install]")[0]
