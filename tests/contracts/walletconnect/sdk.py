"""The official WalletConnect JS SDK as a peer: ``js/sdk_peer.mjs`` in a Node process of its own.

One process per scenario (starting Node and loading the SDK takes about a second). Commands go
to its stdin as JSON lines; its answers and the SDK's events come back on stdout as lines
starting with ``@@wc ``. The SDK's dependencies are installed by ``js/install.sh`` (from
``scripts/test-deps.sh``); when Node or the packages are missing the tests are skipped with the
command that installs them. The process refuses (and reports) every connection that is not
loopback, so :meth:`SdkPeer.stop` fails a test whose SDK tried to reach the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).resolve().parent / "js"
PREFIX = "@@wc "


class SdkError(Exception):
    """A command the SDK refused (its error message)."""


def node_ready() -> str:
    """The node binary, with the SDK installed (installed here if npm can); skips otherwise."""
    node = shutil.which("node")
    if node and not (JS / "node_modules/@reown/walletkit").exists() and shutil.which("npm"):
        subprocess.run(  # noqa: S603 - fixed command
            ["bash", str(JS / "install.sh")],  # noqa: S607
            check=False,
            capture_output=True,
            timeout=300,
        )
    if not node or not (JS / "node_modules/@reown/walletkit").exists():
        pytest.skip("the WalletConnect JS SDK is not installed: run bash scripts/test-deps.sh")
    return node


class SdkPeer:
    """``role`` is "wallet" (WalletKit) or "dapp" (sign-client)."""

    def __init__(self, role: str, *, cafile: Path | None = None, timeout: float = 10.0) -> None:
        self.role = role
        self.cafile = cafile
        self.timeout = timeout
        self.logs: list[str] = []
        self.blocked: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._ids = 0
        self._answers: dict[int, asyncio.Future] = {}
        self._events: dict[str, asyncio.Queue] = {}

    async def start(self, relay_url: str, project_id: str, key: str | None = None, **opts) -> dict:
        env = {**os.environ}
        if self.cafile is not None:  # the relay's self-signed certificate, trusted by Node
            env["NODE_EXTRA_CA_CERTS"] = str(self.cafile)
        self._proc = await asyncio.create_subprocess_exec(
            node_ready(),
            str(JS / "sdk_peer.mjs"),
            self.role,
            cwd=JS,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=4 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        await self.event("ready")
        return await self.call("init", relayUrl=relay_url, projectId=project_id, key=key, **opts)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            if not text.startswith(PREFIX):
                self.logs.append(text)
                continue
            msg = json.loads(text[len(PREFIX) :])
            if "event" in msg:
                if msg["event"] == "blocked":
                    self.blocked.append(msg["target"])
                self._queue(msg["event"]).put_nowait(msg)
            else:
                fut = self._answers.pop(msg["cmd"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        for fut in self._answers.values():
            if not fut.done():
                fut.set_exception(SdkError("the Node process ended:\n" + self.log_tail()))

    def _queue(self, name: str) -> asyncio.Queue:
        return self._events.setdefault(name, asyncio.Queue())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs[-lines:])

    async def call(self, op: str, within: float | None = None, **args: Any) -> Any:
        """Run one command; its result, or SdkError with the SDK's message."""
        assert self._proc is not None and self._proc.stdin is not None
        self._ids += 1
        fut = asyncio.get_running_loop().create_future()
        self._answers[self._ids] = fut
        self._proc.stdin.write((json.dumps({"cmd": self._ids, "op": op, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        try:
            answer = await asyncio.wait_for(fut, within or self.timeout)
        except TimeoutError:
            raise AssertionError(f"the SDK did not answer {op}:\n{self.log_tail()}") from None
        if not answer["ok"]:
            raise SdkError(answer["error"])
        return answer["result"]

    async def event(self, name: str, within: float | None = None) -> dict:
        """The next event ``name`` the SDK emitted (waits for it)."""
        try:
            return await asyncio.wait_for(self._queue(name).get(), within or self.timeout)
        except TimeoutError:
            raise AssertionError(f"no {name!r} event from the SDK:\n{self.log_tail()}") from None

    def pending(self, name: str) -> int:
        return self._queue(name).qsize()

    async def stop(self) -> None:
        """End the process; fails when the SDK tried to reach anything but loopback."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.call("exit", within=2)
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            await self._reader
        self._proc = None
        assert self.blocked == [], f"the SDK tried to reach {self.blocked}"
