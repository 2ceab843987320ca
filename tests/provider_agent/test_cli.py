"""The rigshare-agent entry point: probe output, clear errors, no silent pretending."""

from __future__ import annotations

from provider_agent.cli import main


def test_simulated_probe_prints_each_gpu(capsys):
    assert main(["--simulate", "4090x2,h100", "--probe"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines] == [
        "#0 NVIDIA GeForce RTX 4090",
        "#1 NVIDIA GeForce RTX 4090",
        "#2 NVIDIA H100 80GB HBM3",
    ]


def test_bad_spec_and_missing_token_are_clear(capsys):
    assert main(["--simulate", "4900", "--probe"]) == 2
    assert "4900" in capsys.readouterr().err
    assert main(["--simulate", "4090"]) == 2
    assert "--server and --token are required" in capsys.readouterr().err
    base = ["--simulate", "4090", "--token", "t", "--mode", "shared", "--shared-user", "root"]
    assert main([*base, "--server", "ftp://example.com"]) == 2
    assert "--server must be an http(s) URL" in capsys.readouterr().err
    assert main([*base, "--server", "http://127.0.0.1:1", "--host-key", "/nonexistent"]) == 2
    assert "cannot read the SSH host key /nonexistent" in capsys.readouterr().err
