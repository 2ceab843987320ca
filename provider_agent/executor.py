"""Runs the service's grant and revoke commands on the instance backend.

A grant starts the rental's instance (or moves its deadline when it runs already), then the
self-test logs in with the agent's probe key, as the renter will, and checks that the instance
sees exactly the rented GPUs; the grant counts as done only if that works, and the probe key
is taken out again. A revoke stops and removes the instance. A probe starts a short-lived
instance on idle GPUs with the service's key for the service's own check (no self-test: the
service logs in itself), and unprobe removes it. Commands past ``valid_until`` are
answered without acting. Never raises for a command: failures become ``ok=False`` results
whose error text names what failed (the service shows it to the provider).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from core.domain.instances import InstanceError
from core.wire import AccessDetails, AgentCommand, CommandResult, Evidence, PortMapping
from provider_agent.access import PROBE_PREFIX, AccessBackend, AccessInfo
from provider_agent.errors import AgentError
from provider_agent.selftest import SshSelfTest

log = logging.getLogger(__name__)


class CommandExecutor:
    def __init__(
        self,
        backend: AccessBackend,
        *,
        selftest: SshSelfTest | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.selftest = selftest
        self._clock = clock

    async def run(self, cmd: AgentCommand) -> CommandResult:
        if cmd.valid_until < self._clock():
            return CommandResult(command_id=cmd.id, ok=False, error="stale command, not run")
        try:
            if cmd.kind == "grant":
                return await self._grant(cmd)
            if cmd.kind == "probe":
                return await self._probe(cmd)
            if cmd.kind == "unprobe":
                await self.backend.cleanup(probe_instance(cmd.rental_id))
                return CommandResult(command_id=cmd.id, ok=True)
            return await self._revoke(cmd)
        except (AgentError, InstanceError) as exc:
            log.warning("%s for rental %s failed: %s", cmd.kind, cmd.rental_id, exc)
            return CommandResult(command_id=cmd.id, ok=False, error=str(exc)[:500])

    async def enforce(self) -> set[str]:
        """Remove instances past their paid-until time (their init has stopped them)."""
        removed = await self.backend.enforce()
        for rental in removed:
            log.info("rental %s: paid-until time passed, instance removed", rental)
        return removed

    async def _grant(self, cmd: AgentCommand) -> CommandResult:
        if cmd.public_key is None or cmd.expires_at is None:
            return CommandResult(command_id=cmd.id, ok=False, error="grant without key or expiry")
        rental = str(cmd.rental_id)
        log.info("rental %s: grant until %d", rental, cmd.expires_at)
        info = await self.backend.grant(rental, cmd.public_key, cmd.expires_at, cmd.instance)
        access = access_details(info)
        if self.selftest is None:
            return CommandResult(command_id=cmd.id, ok=True, access=access)
        report = await self.selftest.run(info, self.backend.gpu_check(rental))
        evidence = [
            Evidence(kind="selftest", at=int(self._clock()), data=_scalars(report.as_dict()))
        ]
        if not report.success:
            await self.backend.cleanup(rental)  # the renter would not get in either
            error = f"self-test failed: {report.error or 'GPU check did not pass'}"
            log.warning("rental %s: %s", rental, error)
            return CommandResult(command_id=cmd.id, ok=False, error=error[:500], evidence=evidence)
        await self.backend.selftest_done(rental)
        log.info("rental %s: granted, self-test passed in %d ms", rental, report.latency_ms)
        return CommandResult(command_id=cmd.id, ok=True, access=access, evidence=evidence)

    async def _probe(self, cmd: AgentCommand) -> CommandResult:
        """Start the service's probe instance (its key, idle GPUs, a short deadline); the
        service logs in itself, so the agent's own probe key is taken out at once."""
        if cmd.public_key is None or cmd.expires_at is None or cmd.instance is None:
            return CommandResult(command_id=cmd.id, ok=False, error="probe without key or GPUs")
        name = probe_instance(cmd.rental_id)
        info = await self.backend.grant(name, cmd.public_key, cmd.expires_at, cmd.instance)
        await self.backend.selftest_done(name)
        log.info("probe %s: instance up for the service's check", cmd.rental_id)
        return CommandResult(command_id=cmd.id, ok=True, access=access_details(info))

    async def _revoke(self, cmd: AgentCommand) -> CommandResult:
        await self.backend.cleanup(str(cmd.rental_id))
        log.info("rental %s: revoked, instance removed", cmd.rental_id)
        return CommandResult(command_id=cmd.id, ok=True)


def probe_instance(probe_id: int) -> str:
    """The instance name of the service's probe ``probe_id``: apart from rental ids (digits)."""
    return f"{PROBE_PREFIX}{probe_id}"


def access_details(info: AccessInfo) -> AccessDetails:
    return AccessDetails(
        username=info.username,
        host=info.host,
        port=info.port,
        host_key_fingerprint=info.host_key_fingerprint,
        ports=[PortMapping(container_port=c, host_port=h) for c, h in info.ports],
        jupyter_port=info.jupyter_port,
        jupyter_token=info.jupyter_token,
        gpu_uuids=list(info.gpu_uuids),
        image=info.image,
    )


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or isinstance(value, bool | int | float):
            out[key] = value
        else:
            out[key] = str(value)[:3900]
    return out
