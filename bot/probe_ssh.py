"""The service's own SSH login into a probe instance (implements core.ports.HostProber).

The service logs in with its own key (``PROBE_SSH_KEY``, or a key file under ``DATA_DIR``
created once, mode 0600), never with anything the agent holds. The host key is pinned to the
fingerprint the agent reported before anything is sent: a server presenting any other key
gets no authentication attempt. Only ed25519 host keys are accepted, the kind whose
fingerprint instances report. The private key is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import asyncssh

from core.domain.verification import ProbeLogin
from core.ports import ProbeTarget

log = logging.getLogger(__name__)
KEY_FILE = "probe_ed25519"
OUTPUT_LIMIT = 4000


class _Pinned(asyncssh.SSHClient):
    def __init__(self, fingerprint: str, seen: list[str]) -> None:
        self._fingerprint, self._seen = fingerprint, seen

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        actual = key.get_fingerprint("sha256")
        self._seen.append(actual)
        return actual == self._fingerprint


class AsyncsshHostProber:
    """Construction reads nothing; the key is loaded (or the key file created) on first use.
    Raises asyncssh.KeyImportError for a malformed ``private_key``."""

    def __init__(
        self, *, private_key: str | None = None, data_dir: str | Path = "var", timeout: float = 20.0
    ) -> None:
        self._text, self._dir, self._timeout = private_key, Path(data_dir), timeout
        self._key: asyncssh.SSHKey | None = None

    def _loaded(self) -> asyncssh.SSHKey:
        if self._key is None:
            self._key = asyncssh.import_private_key(self._text or _key_file(self._dir))
        return self._key

    def public_key(self) -> str:
        return self._loaded().export_public_key("openssh").decode().strip()

    async def login(self, target: ProbeTarget, command: str) -> ProbeLogin:
        seen: list[str] = []
        key = await asyncio.to_thread(self._loaded)
        try:
            async with asyncio.timeout(self._timeout):
                async with asyncssh.connect(
                    target.host,
                    port=target.port,
                    username=target.username,
                    client_keys=[key],
                    client_factory=lambda: _Pinned(target.host_key_fingerprint, seen),
                    known_hosts=([], [], []),  # trust nothing up front: _Pinned decides
                    server_host_key_algs=["ssh-ed25519"],
                    agent_path=None,
                    config=[],
                    preferred_auth="publickey",
                ) as conn:
                    result = await conn.run(command, check=False)
        except asyncssh.HostKeyNotVerifiable:
            return ProbeLogin(seen[-1] if seen else None, error="host key mismatch")
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return ProbeLogin(seen[-1] if seen else None, error=error[:300])
        output = str(result.stdout or "")[:OUTPUT_LIMIT]
        return ProbeLogin(seen[-1] if seen else None, result.exit_status, output)


def _key_file(data_dir: Path) -> str:
    """The per-installation probe key under ``data_dir``, created once with mode 0600."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="rigshare-service-probe")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return path.read_text()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key("openssh"))
        log.warning(
            "PROBE_SSH_KEY is not set: the service probes hosts with the key in %s "
            "(set PROBE_SSH_KEY in production, the same for every process)",
            path,
        )
    return path.read_text()
