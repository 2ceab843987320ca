"""docs/provider-agent.md shows configuration the agent really reads, and no token on a
command line."""

from __future__ import annotations

import re
from pathlib import Path

from provider_agent.instance_config import DEFAULT_REGISTRIES, DEFAULT_TEMPLATES, load_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "provider-agent.md"


def test_the_documented_config_is_the_default_and_loads(tmp_path):
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None
    path = tmp_path / "agent.toml"
    path.write_text(example[1])
    config = load_config(path)
    assert config.templates == DEFAULT_TEMPLATES
    assert config.registries == DEFAULT_REGISTRIES
    assert (config.default_template, config.gpu_binding, config.max_ports) == (
        "pytorch",
        "nvidia",
        4,
    )


def test_systemd_unit_keeps_the_token_out_of_the_command_line():
    text = DOC.read_text()
    assert "EnvironmentFile=/etc/rigshare-agent.env" in text
    assert "RestartPreventExitStatus=4" in text
    service = text.split("[Service]")[1].split("[Install]")[0]
    assert "--token" not in service and "rsa_" not in service
