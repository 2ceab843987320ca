"""Runs the service's grant and revoke commands on the SSH access backend.

A grant installs the renter's key (expiring by itself), then the self-test logs in with the
agent's probe key and runs the GPU check; the grant counts as done only if that works. A
revoke removes the key, ends the rental's sessions and deletes what it left behind, and
sends the rental's sshd log lines as evidence. Commands past ``valid_until`` are answered
without acting. Never raises for a command: failures become ``ok=False`` results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.wire import AccessDetails, AgentCommand, CommandResult, Evidence
from provider_agent import ssh_log
from provider_agent.errors import AgentError
from provider_agent.selftest import SshSelfTest
from provider_agent.ssh_access import AccessBackend
from provider_agent.ssh_keys import parse_public_key

log = logging.getLogger(__name__)


class CommandExecutor:
    def __init__(
        self,
        backend: AccessBackend,
        *,
        selftest: SshSelfTest | None = None,
        ssh_log_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.selftest = selftest
        self.ssh_log_path = ssh_log_path
        self._clock = clock
        self._who: dict[int, tuple[str, str]] = {}  # rental -> (username, key fingerprint)

    async def run(self, cmd: AgentCommand) -> CommandResult:
        if cmd.valid_until < self._clock():
            return CommandResult(command_id=cmd.id, ok=False, error="stale command, not run")
        try:
            if cmd.kind == "grant":
                return await self._grant(cmd)
            return await self._revoke(cmd)
        except AgentError as exc:
            log.warning("%s for rental %s failed: %s", cmd.kind, cmd.rental_id, exc)
            return CommandResult(command_id=cmd.id, ok=False, error=str(exc)[:500])

    async def enforce(self) -> set[str]:
        """Revoke rentals whose key expired (sshd refuses them already; this ends sessions)."""
        enforce = getattr(self.backend, "enforce", None)
        return await enforce() if enforce is not None else set()

    async def _grant(self, cmd: AgentCommand) -> CommandResult:
        if cmd.public_key is None or cmd.expires_at is None:
            return CommandResult(command_id=cmd.id, ok=False, error="grant without key or expiry")
        rental = str(cmd.rental_id)
        info = await self.backend.grant(rental, cmd.public_key, cmd.expires_at)
        self._who[cmd.rental_id] = (info.username, parse_public_key(cmd.public_key).fingerprint)
        access = AccessDetails(
            username=info.username,
            host=info.host,
            port=info.port,
            host_key_fingerprint=info.host_key_fingerprint,
        )
        if self.selftest is None:
            return CommandResult(command_id=cmd.id, ok=True, access=access)
        report = await self.selftest.run(info)
        evidence = [
            Evidence(kind="selftest", at=int(self._clock()), data=_scalars(report.as_dict()))
        ]
        if not report.success:
            await self.backend.revoke(rental)  # the renter would not get in either
            error = f"self-test failed: {report.error or 'GPU check did not pass'}"
            return CommandResult(command_id=cmd.id, ok=False, error=error[:500], evidence=evidence)
        return CommandResult(command_id=cmd.id, ok=True, access=access, evidence=evidence)

    async def _revoke(self, cmd: AgentCommand) -> CommandResult:
        await self.backend.cleanup(str(cmd.rental_id))
        evidence = []
        lines = await self._log_lines(cmd.rental_id)
        if lines:
            data = {
                "source": str(self.ssh_log_path),
                "count": len(lines),
                "lines": "\n".join(lines),
            }
            evidence.append(Evidence(kind="ssh_log", at=int(self._clock()), data=data))
        self._who.pop(cmd.rental_id, None)
        return CommandResult(command_id=cmd.id, ok=True, evidence=evidence)

    async def _log_lines(self, rental_id: int) -> list[str]:
        if self.ssh_log_path is None:
            return []
        username, fingerprint = self._who.get(rental_id, ("", ""))
        username_for = getattr(self.backend, "username_for", None)
        if not username and username_for is not None:
            username = username_for(str(rental_id))
        # a shared account is everyone's: only the rental's key fingerprint identifies it
        needles = [fingerprint] if username_for is None else [username, fingerprint]
        try:
            return await asyncio.to_thread(ssh_log.rental_lines, self.ssh_log_path, needles)
        except OSError as exc:
            log.warning("cannot read the sshd log %s: %s", self.ssh_log_path, exc)
            return []


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or isinstance(value, bool | int | float):
            out[key] = value
        else:
            out[key] = str(value)[:3900]
    return out
