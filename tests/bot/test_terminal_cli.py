"""The real `rigshare chat --script` command, end to end on a fresh SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).with_name("scripts")


def _cli(tmp_path: Path, args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """``python -m bot.cli ARGS`` in ``tmp_path``; its output, after asserting it exited 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _run(tmp_path: Path, script: str, *args: str) -> str:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}
    return _cli(tmp_path, ["chat", "--as", "alice", "--script", str(SCRIPTS / script), *args], env)


def test_happy_path_script(tmp_path):
    out = _run(tmp_path, "happy_path.txt")
    assert "script done: 0 error replies" in out
    assert re.search(r"Quote #1 · listing #\d+\n.*RTX 4090", out)
    assert "Payment seen: 1.053 USDC locked" in out
    assert "BEGIN OPENSSH PRIVATE KEY" in out
    assert re.search(r"ssh -p 2222 root@127\.0\.0\.1", out)  # the instance's root
    assert "GPUs: GPU-sim-" in out and "Image: docker.io/nvidia/cuda:" in out
    assert "SIMULATED: this host is a simulation" in out
    assert "the instance and its files are deleted" in out
    assert re.search(r"Receipt · rental #1 · settled", out)
    assert "Deposit   1.053000 USDC" in out  # shares its places with the refund
    assert "Thanks! You rated rental #1 with 5/5." in out
    # issue 3's done-when: the embedded default is a real (in-process) chain; the dev wallet
    # signed a real EIP-3009 authorization for the escrow, and the split adds up
    assert re.search(
        r"Your wallet shows: Authorize 1\.053000 USDC into the rigshare escrow 0x[0-9a-fA-F]{40}",
        out,
    )
    assert "Your wallet shows: Stop rental 0x" in out
    hashes = dict(re.findall(r"^\s+(open|start|stop|settle): (0x[0-9a-f]{64})$", out, re.M))
    assert set(hashes) == {"open", "start", "stop", "settle"}
    assert len({hashes["open"], hashes["start"], hashes["stop"]}) == 3
    assert hashes["stop"] == hashes["settle"]  # the signed Stop settles in the same transaction
    amount = r"(\d+\.\d{6}) USDC"
    deposit = _micro(re.search(rf"Deposit\s+{amount}", out).group(1))
    provider = _micro(re.search(rf"provider\s+{amount}", out).group(1))
    fee = _micro(re.search(rf"fee\s+{amount}", out).group(1))
    refund = _micro(re.search(rf"Refund\s+{amount}", out).group(1))
    billed = _micro(re.search(rf"Billed\s+{amount}", out).group(1))
    assert deposit == 1_053_000 and provider + fee + refund == deposit
    assert provider + fee == billed and fee == billed * 1200 // 10_000


def _micro(text: str) -> int:
    whole, frac = text.split(".")
    return int(whole) * 1_000_000 + int(frac)


def test_provider_script_and_second_user(tmp_path):
    out = _run(tmp_path, "provider.txt")
    # /price before the agent reported any GPU is refused with a clear message
    assert "script done: 1 error reply" in out
    assert "'box1' has no GPUs listed yet; start its agent first (the rigshare-agent" in out
    assert re.search(
        r"Not registered: the message was signed by a different wallet \(0x[0-9a-fA-F]{40}\), "
        r"not by 0x0{38}aa\.",
        out,
    )
    linked = re.search(r"Wallet linked: (0x[0-9a-fA-F]{40})\.", out).group(1)
    assert f"You are a provider now. Payouts go to {linked}." in out
    assert re.search(
        r"RIGSHARE_AGENT_TOKEN=rsa_\S{40,} rigshare-agent --server http://127\.0\.0\.1:8080", out
    )
    assert "No machines yet" not in out
    assert "0 listing(s)" not in out


def test_rigshare_run_serves_the_terminal_until_eof(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/run.sqlite3",
        "SIMULATED_PROVIDERS": "3",
        "WEB_PORT": "0",
    }
    out = _cli(tmp_path, ["run"], env, stdin="/gpus 4090\n/rent 4090 2h\n")
    assert "3 simulated providers online" in out
    assert "chain: in-process development chain" in out
    assert re.search(r"agent API: http://127\.0\.0\.1:\d+/agent/v1/", out)
    assert re.search(r"#\d+ · RTX 4090 · 24 GB · \$0\.\d+/GPU·h", out)
    assert "Deposit: " in out and "[Confirm]" in out
