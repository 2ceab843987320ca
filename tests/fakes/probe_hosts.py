"""Made-up SSH servers for the service's own probes (core.ports.HostProber), for tests."""

from __future__ import annotations

from core.domain.verification import COMMAND_NOT_FOUND, ProbeLogin
from core.ports import ProbeTarget


class FakeProbeHosts:
    """Implements core.ports.HostProber over made-up SSH servers: ``serve`` puts one at
    ``host:port`` with its host key fingerprint and the GPU UUIDs ``nvidia-smi`` lists inside
    (None: no ``nvidia-smi``). Logins are recorded; a wrong host key gets no login."""

    PUBLIC_KEY = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeServiceProbeKeyForTestsOnlyAAAAAAAA probe"
    )

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}
        self.logins: list[ProbeTarget] = []

    def serve(self, host: str, port: int, fingerprint: str, gpu_uuids: list[str] | None) -> None:
        self.servers[(host, port)] = (fingerprint, None if gpu_uuids is None else tuple(gpu_uuids))

    def public_key(self) -> str:
        return self.PUBLIC_KEY

    async def login(self, target: ProbeTarget, command: str) -> ProbeLogin:
        server = self.servers.get((target.host, target.port))
        if server is None:
            return ProbeLogin(None, error="ConnectionRefusedError: nothing listens there")
        fingerprint, uuids = server
        if fingerprint != target.host_key_fingerprint:
            return ProbeLogin(fingerprint, error="host key mismatch")
        self.logins.append(target)
        if uuids is None:
            return ProbeLogin(fingerprint, COMMAND_NOT_FOUND, "nvidia-smi: command not found\n")
        return ProbeLogin(fingerprint, 0, "".join(f"{u}\n" for u in uuids))
