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


def test_bad_spec_and_missing_token_are_clear(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("RIGSHARE_AGENT_TOKEN", raising=False)
    assert main(["--simulate", "4900", "--probe"]) == 2
    assert "4900" in capsys.readouterr().err
    assert main(["--simulate", "4090"]) == 2
    assert "the agent token ($RIGSHARE_AGENT_TOKEN or --token-file)" in capsys.readouterr().err
    monkeypatch.setenv("RIGSHARE_AGENT_TOKEN", "t")
    base = ["--simulate", "4090", "--backend", "simulated"]
    assert main([*base, "--server", "ftp://example.com"]) == 2
    assert "--server must be an http(s) URL" in capsys.readouterr().err
    missing = tmp_path / "missing.toml"
    assert main(["--simulate", "4090", "--server", "http://127.0.0.1:1", "--config", str(missing)])
    assert f"cannot read {missing}" in capsys.readouterr().err


def test_the_token_is_never_an_argument(capsys):
    """A token on the command line is readable by every user of the host (ps)."""
    try:
        main(["--token", "rsa_x", "--server", "http://127.0.0.1:1"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "unrecognized arguments: --token" in capsys.readouterr().err


def test_a_broken_engine_socket_is_a_clear_start_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RIGSHARE_AGENT_TOKEN", "t")
    config = tmp_path / "agent.toml"
    config.write_text(f'[engine]\nsocket = "{tmp_path}/nothing.sock"\nstate_dir = "{tmp_path}"\n')
    argv = ["--simulate", "4090", "--server", "http://127.0.0.1:1", "--config", str(config)]
    assert main(argv) == 2
    assert "the container engine is unreachable" in capsys.readouterr().err
