"""Long-running helper processes (dockerd, podman, the registry, TCP servers) with a log file.

Every daemon runs in a session of its own so that Ctrl-C on pytest reaches pytest only and the
fixtures' teardown still stops the daemons in order. Stopping is by PID: SIGTERM, a grace
period, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 15.0


class HarnessError(RuntimeError):
    """The harness could not build or start a part; the message carries the part's log."""


@dataclass(frozen=True)
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, message: str) -> HarnessError:
        """An error naming this daemon, with the end of its log (the usual reason)."""
        return HarnessError(f"{self.name}: {message}\n--- {self.log_path} ---\n{self.log_tail()}")

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL; reaps the process either way."""
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_daemon(
    name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Daemon:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    return Daemon(name, process, log_path)


def wait_until(check: Callable[[], object], within: float, what: str) -> object:
    """The first truthy ``check()``; HarnessError naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"{what}: not within {within} s")
        time.sleep(0.05)


def kill_pids(pids: Iterable[int]) -> list[int]:
    """SIGKILL each PID that still exists; the ones actually signalled."""
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(pid)
    return killed


def pids_whose_cmdline_mentions(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (a harness's unique temp dir)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found
