"""Real processes for the system tests: ``rigshare run`` service processes and provider agents.

Each process writes its output to a log file of its own (appended across restarts, so a
failure shows the whole history). The service is killed with SIGKILL, the way a crash or an
OOM kill ends it: no shutdown code runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


class Process:
    """One subprocess with a log file; ``start`` again after ``kill`` for a restart."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.alive, f"{self.name} is already running"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start #{self.starts} at {time.time():.3f} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(  # noqa: S603 - our own entry points
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a test's ^C does not reach it twice
            )

    def kill(self) -> None:
        """SIGKILL: nothing of the process's own shutdown runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: ours, without settings that would leak into it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TELEGRAM_", "RPC_", "ESCROW_", "WEB_"))
    }
    env.update({"PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class ServiceProcess(Process):
    """``rigshare run --no-terminal`` with its settings in the environment."""

    def __init__(self, name: str, settings: Mapping[str, str], log: Path) -> None:
        argv = [sys.executable, "-m", "bot.cli", "run", "--no-terminal"]
        super().__init__(name, argv, python_env(settings), log)
        self.port = int(settings["WEB_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self) -> dict | None:
        """``GET /health`` of the running process, None while it does not answer."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
                http.get(f"{self.url}/health") as response,
            ):
                if response.status != 200:
                    return None
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def wait_ready(self, within: float = 60.0) -> dict:
        deadline = time.monotonic() + within
        while True:
            if not self.alive:
                raise AssertionError(f"{self.name} exited:\n{self.tail()}")
            health = await self.health()
            if health is not None:
                return health
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready within {within} s:\n{self.tail()}")
            await asyncio.sleep(0.1)


class AgentProcess(Process):
    """``rigshare-agent --simulate --backend simulated`` with its own state file.

    No container engine is needed: the simulated backend records each rental's instance (its
    key and paid-until time) in the state file, which is the agent's view of the rentals the
    tests compare with the service's.
    """

    def __init__(self, name: str, server: str, token: str, gpus: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.state_file = workdir / "instances.json"
        argv = [
            sys.executable,
            *("-m", "provider_agent.cli"),
            *("--server", server, "--simulate", gpus, "--interval", "1"),
            *("--backend", "simulated", "--state-file", str(self.state_file)),
            *("--ssh-host", "127.0.0.1"),
        ]
        super().__init__(
            name, argv, python_env({"RIGSHARE_AGENT_TOKEN": token}), workdir / "agent.log"
        )

    def granted(self) -> dict[str, str]:
        """rental id -> the public key of the instance the agent runs for it."""
        try:
            instances = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        return {rental: instance["key"] for rental, instance in instances.items()}
