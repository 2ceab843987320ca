"""Post-grant self-test: log in as the renter would, run a GPU check, keep the evidence.

The agent logs in with its own probe key (installed for each rental as a ``restrict`` line
tagged ``rigshare:<rental>:probe``, same expiry as the renter's key), pins the host key to the
fingerprint handed to the renter, and runs ``nvidia-smi``; if that command is missing (exit
127) the configured fallback runs instead. Private keys are never logged or put in evidence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import asyncssh

from provider_agent.access import AccessInfo, GpuCheck

log = logging.getLogger(__name__)

GPU_CHECK_COMMAND = "nvidia-smi --query-gpu=name,uuid --format=csv,noheader"
COMMAND_NOT_FOUND = 127


@dataclass(frozen=True, slots=True)
class SelfTestEvidence:
    """What one probe login showed; ``latency_ms`` spans connect + auth + command."""

    username: str
    host: str
    port: int
    started_at: float
    finished_at: float
    latency_ms: int
    success: bool
    host_key_ok: bool
    command: str
    exit_status: int | None
    output_head: str
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _PinnedHostKey(asyncssh.SSHClient):
    def __init__(self, fingerprint: str, seen: list[str]) -> None:
        self._fingerprint, self._seen = fingerprint, seen

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        actual = key.get_fingerprint("sha256")
        self._seen.append(actual)
        return actual == self._fingerprint


class SshSelfTest:
    """Runs probe logins. Construction raises asyncssh.KeyImportError for a bad private key;
    :meth:`run` never raises for SSH failures, it reports them in the evidence."""

    def __init__(
        self,
        probe_private_key: str,
        *,
        command: str = GPU_CHECK_COMMAND,
        fallback_command: str | None = None,
        timeout: float = 15.0,
        output_limit: int = 400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = asyncssh.import_private_key(probe_private_key)
        self._command, self._fallback = command, fallback_command
        self._timeout, self._limit, self._clock = timeout, output_limit, clock

    async def run(self, access: AccessInfo, check: GpuCheck | None = None) -> SelfTestEvidence:
        """Log in and run the GPU check: ``check`` (the instance must see exactly its GPUs)
        or the configured command."""
        started, t0 = self._clock(), time.perf_counter()
        seen: list[str] = []
        command = check.command if check else self._command
        status, output, error = None, "", None
        try:
            async with asyncio.timeout(self._timeout):
                command, status, output = await self._login(access, seen, command, check is None)
        except asyncssh.HostKeyNotVerifiable:
            error = f"host key mismatch: expected {access.host_key_fingerprint}, got {seen[-1:]}"
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        host_key_ok = bool(seen) and seen[-1] == access.host_key_fingerprint
        success = error is None and status == 0 and host_key_ok
        if error is None and status != 0:
            error = f"{command!r} exited with {status}"
        if error is None and check is not None:
            error = check.verify(output)  # type: ignore[operator]
            success = success and error is None
        evidence = SelfTestEvidence(
            username=access.username,
            host=access.host,
            port=access.port,
            started_at=started,
            finished_at=self._clock(),
            latency_ms=round((time.perf_counter() - t0) * 1000),
            success=success,
            host_key_ok=host_key_ok,
            command=command,
            exit_status=status,
            output_head=output[: self._limit],
            error=error,
        )
        log.info(
            "ssh self-test %s@%s:%s success=%s latency=%sms error=%s",
            access.username,
            access.host,
            access.port,
            success,
            evidence.latency_ms,
            error,
        )
        return evidence

    async def _login(
        self, access: AccessInfo, seen: list[str], command: str, fallback: bool
    ) -> tuple[str, int | None, str]:
        async with asyncssh.connect(
            access.host,
            port=access.port,
            username=access.username,
            client_keys=[self._key],
            client_factory=lambda: _PinnedHostKey(access.host_key_fingerprint, seen),
            known_hosts=([], [], []),  # trust nothing up front: the factory pins the key
            server_host_key_algs=["ssh-ed25519"],  # the key whose fingerprint we hand out
            agent_path=None,
            config=[],
            preferred_auth="publickey",
        ) as conn:
            result = await conn.run(command, check=False)
            if fallback and result.exit_status == COMMAND_NOT_FOUND and self._fallback:
                command = self._fallback
                result = await conn.run(command, check=False)
            output = f"{result.stdout or ''}{result.stderr or ''}"
            return command, result.exit_status, str(output)
