"""Instances that are only recorded: ``rigshare-agent --simulate`` without a container engine.

For development, the embedded default's simulated providers and tests of everything around
the agent. Nothing runs and nobody can log in: the host key fingerprint says ``simulated``,
and the heartbeat's offer says ``backend="simulated"`` so the service tells renters so. With
a state file the instances survive a restart of the agent (the system tests read it to check
the agent's view against the service's rentals).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from core.domain.instances import check_ports, parse_image
from core.wire import InstanceOffer, InstanceRequest, TemplateInfo
from provider_agent.access import AccessInfo, GpuCheck, checked_grant
from provider_agent.instance_config import DEFAULT_TEMPLATES, Template
from provider_agent.ssh_keys import check_rental_id

SIMULATED_FINGERPRINT = "SHA256:simulated+instance+no+login+possible"


class SimulatedBackend:
    def __init__(
        self,
        *,
        ssh_host: str = "127.0.0.1",
        templates: tuple[Template, ...] = DEFAULT_TEMPLATES,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ssh_host = ssh_host
        self.templates = templates
        self.state_file = state_file
        self._clock = clock
        self.instances: dict[str, dict] = self._load()
        self._lock = asyncio.Lock()

    def _load(self) -> dict[str, dict]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        return json.loads(self.state_file.read_text())

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_name(f".{self.state_file.name}.tmp")
        tmp.write_text(json.dumps(self.instances, sort_keys=True))
        os.replace(tmp, self.state_file)

    def offer(self) -> InstanceOffer:
        return InstanceOffer(
            backend="simulated",
            templates=[
                TemplateInfo(name=t.name, image=t.image, title=t.title, jupyter=t.jupyter)
                for t in self.templates
            ],
            default_template=self.templates[0].name if self.templates else None,
            max_ports=4,
        )

    async def grant(
        self,
        rental_id: str,
        public_key: str,
        expires_at_epoch: int,
        instance: InstanceRequest | None = None,
    ) -> AccessInfo:
        rental_id, key, expires_at = checked_grant(
            rental_id, public_key, expires_at_epoch, self._clock()
        )
        ports = check_ports(list(instance.ports)) if instance else ()
        image = parse_image(instance.image).reference if instance else None
        access = AccessInfo(
            username="root",
            host=self.ssh_host,
            port=22,
            host_key_fingerprint=SIMULATED_FINGERPRINT,
            ports=tuple((p, 40000 + p % 1000) for p in ports),
            gpu_uuids=tuple(instance.gpu_uuids) if instance else (),
            image=image,
        )
        async with self._lock:
            self.instances[rental_id] = {
                "key": key.line,
                "expires_at": expires_at,
                "access": asdict(access),
            }
            await asyncio.to_thread(self._save)
        return access

    async def revoke(self, rental_id: str) -> None:
        rental_id = check_rental_id(rental_id)
        async with self._lock:
            if self.instances.pop(rental_id, None) is not None:
                await asyncio.to_thread(self._save)

    async def cleanup(self, rental_id: str) -> None:
        await self.revoke(rental_id)

    async def active(self) -> set[str]:
        return set(self.instances)

    async def enforce(self) -> set[str]:
        now = self._clock()
        expired = {r for r, i in self.instances.items() if i["expires_at"] <= now}
        for rental_id in expired:
            await self.revoke(rental_id)
        return expired

    def gpu_check(self, rental_id: str) -> GpuCheck | None:
        return None

    async def selftest_done(self, rental_id: str) -> None:
        return None
