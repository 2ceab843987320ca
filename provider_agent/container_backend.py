"""One rental = one container: exactly the rented GPUs, the renter's image, limits, root and SSH.

A grant pulls the image if needed, writes the instance's run directory (a fresh host key, the
deadline, the renter's key), creates the container on the instances' bridge, starts it
and waits until its SSH port answers. The container's PID 1 (the toolbox's init) stops it at
the deadline even if the agent is dead; a grant for a running instance moves the deadline
(``/extend``). Revoke stops and removes the container with its writable layer and anonymous
volumes, and its run directory. Containers carry the label ``rigshare.rental``, so
a restarted agent finds its instances again; :meth:`enforce` removes those past their deadline
and any it no longer knows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.domain.instances import InstanceError, check_ports, parse_image, registry_allowed
from core.wire import InstanceOffer, InstanceRequest, TemplateInfo
from provider_agent.access import PROBE_PREFIX, AccessInfo, GpuCheck, checked_grant
from provider_agent.container_spec import (
    LABEL,
    NETWORK,
    NETWORK_LABEL,
    SSH_PORT,
    EngineShape,
    InstanceSpec,
    Mounts,
    create_body,
    network_body,
    resources,
)
from provider_agent.engine_api import EngineClient, EngineError
from provider_agent.firewall import Firewall
from provider_agent.gpu_binding import CdiDevices, GpuBinding, HostGpu, binding_for
from provider_agent.host_keys import new_host_key
from provider_agent.instance_config import InstanceConfig
from provider_agent.instance_files import RunDir
from provider_agent.instance_gpus import gpu_view_check
from provider_agent.libpod_spec import libpod_spec
from provider_agent.ssh_keys import check_rental_id, parse_public_key
from provider_agent.toolbox import Toolbox, build_toolbox

log = logging.getLogger(__name__)
JUPYTER_PORT = 8888
_DISK_UNSUPPORTED = ("storage-opt", "storage opt", "quota", "pquota", "backing filesystem")


class ContainerBackend:
    """Raises AccessError (or its EngineError/ToolboxError kin) with text for the operator."""

    def __init__(
        self,
        config: InstanceConfig,
        *,
        ssh_host: str,
        gpus: Callable[[], Awaitable[dict[str, int]]],
        probe_public_key: str | None = None,
        engine: EngineClient | None = None,
        binding: GpuBinding | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.ssh_host = ssh_host
        self._gpus = gpus  # uuid -> device minor, as NVML reads them now
        self._probe = parse_public_key(probe_public_key) if probe_public_key else None
        self.engine = engine or EngineClient(config.socket, api_version=config.api_version)
        self.binding = binding or binding_for(config.gpu_binding, config.device_dir)
        self._clock = clock
        self._toolbox: Toolbox | None = None
        self._disk_limits = config.disk_limits != "off"
        self._engine_cpus = os.cpu_count() or 1
        self._engine_memory_mib = 0
        self._firewall = Firewall(config.engine_netns) if config.firewall else None
        self._lock = asyncio.Lock()  # grants and revokes on one host run one at a time
        self.instances_dir = config.state_dir / "instances"

    # -- start -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Check the engine, build the toolbox, install the firewall. Raises AgentError."""
        await self.engine.ping()
        info = await self.engine.info()
        self._engine_cpus = int(info.get("NCPU") or self._engine_cpus)
        self._engine_memory_mib = int(info.get("MemTotal") or 0) // (1024 * 1024)
        await asyncio.to_thread(self.instances_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        self._toolbox = await asyncio.to_thread(build_toolbox, self.config.state_dir)
        await self._ensure_network()
        if self._firewall is not None:
            await self._firewall.install()
        log.info(
            "container engine %s ready: %s CPUs, %s MiB, GPU binding %s",
            info.get("ServerVersion", "?"),
            self._engine_cpus,
            self._engine_memory_mib,
            self.binding.name,
        )

    async def close(self) -> None:
        await self.engine.close()

    async def prepull(self) -> None:
        """Pull every template's image that is not here yet, so a rental starts in about a
        second instead of waiting for a download. A failure is logged; the grant that needs
        the image tries again and reports it."""
        for template in self.config.templates:
            try:
                await self._ensure_image(template.image)
            except EngineError as exc:
                log.warning("template %s: %s", template.name, exc)

    def offer(self) -> InstanceOffer:
        c = self.config
        return InstanceOffer(
            backend="container",
            templates=[
                TemplateInfo(name=t.name, image=t.image, title=t.title, jupyter=t.jupyter)
                for t in c.templates
            ],
            default_template=c.default_template if c.template(c.default_template) else None,
            custom_images=c.custom_images,
            allowed_registries=list(c.registries),
            max_ports=c.max_ports,
            probes=True,
        )

    # -- grant -------------------------------------------------------------------------------
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
        if instance is None:
            raise InstanceError("this host runs rentals as instances: the grant named no image")
        async with self._lock:
            run = RunDir(self.instances_dir / rental_id)
            existing = await self._container(rental_id)
            if existing is not None and existing["State"] == "running" and run.exists():
                probe = self._probe.line if self._probe else None
                await asyncio.to_thread(run.extend, expires_at, key.line, probe)
                log.info("rental %s: instance deadline moved to %d", rental_id, expires_at)
                return await asyncio.to_thread(run.access)
            if existing is not None:
                await self._remove(rental_id)
            return await self._create(rental_id, key.line, expires_at, instance, run)

    def _image(self, instance: InstanceRequest) -> str:
        image = parse_image(instance.image)
        offered = {t.image for t in self.config.templates}
        if image.reference in offered:
            return image.reference
        if not self.config.custom_images:
            raise InstanceError(f"{image.reference} is not one of this host's templates")
        if not registry_allowed(image, self.config.registries):
            raise InstanceError(f"images from {image.registry} are not allowed on this host")
        return image.reference

    async def _host_gpus(self, instance: InstanceRequest, busy: dict[str, str]) -> list[HostGpu]:
        known = await self._gpus()
        out = []
        for uuid in instance.gpu_uuids:
            if uuid not in known:
                raise InstanceError(f"GPU {uuid} is not on this host")
            if uuid in busy:
                raise InstanceError(f"GPU {uuid} is in rental {busy[uuid]}'s instance")
            out.append(HostGpu(uuid, known[uuid]))
        if len({g.uuid for g in out}) != len(out):
            raise InstanceError("the grant names one GPU twice")
        return out

    async def _create(
        self,
        rental_id: str,
        renter_key: str,
        expires_at: int,
        instance: InstanceRequest,
        run: RunDir,
    ) -> AccessInfo:
        image = self._image(instance)
        ports = check_ports(list(instance.ports))
        if len(ports) > self.config.max_ports:
            raise InstanceError(f"this host publishes at most {self.config.max_ports} ports")
        gpus = await self._host_gpus(instance, await self._yield_probes(rental_id, instance))
        await self._ensure_image(image)
        template = self.config.template(instance.template or "")
        jupyter = instance.jupyter or bool(
            template and template.jupyter and template.image == image
        )
        host_key = await asyncio.to_thread(new_host_key)  # an RSA key: ~40 ms of CPU
        token = secrets.token_urlsafe(24) if jupyter else None
        probe = self._probe.line if self._probe else None
        await asyncio.to_thread(
            run.write, host_key, expires_at, renter_key, probe, token, image, instance.gpu_uuids
        )
        try:
            busy_cores = await asyncio.to_thread(RunDir.cores_in_use, self.instances_dir)
            body = self._container_body(rental_id, image, gpus, ports, instance, run, busy_cores)
            container = await self._create_container(rental_id, body, gpus)
            await self.engine.start(container)
            access = await self._access(container, run, ports, token, image, gpus, body)
            await self._wait_for_ssh(container, access.port)
        except BaseException:
            await self._remove(rental_id)
            raise
        log.info(
            "rental %s: instance %s up with %s, SSH on port %d",
            rental_id,
            container[:12],
            image,
            access.port,
        )
        return access

    async def _yield_probes(self, rental_id: str, instance: InstanceRequest) -> dict[str, str]:
        """The GPUs in use (uuid -> instance), after removing the service's probe instances
        on the GPUs a rental's grant needs: a probe never stands in a rental's way."""
        busy = await self._busy_gpus()
        if rental_id.startswith(PROBE_PREFIX):
            return busy
        probes = {busy[u] for u in instance.gpu_uuids if busy.get(u, "").startswith(PROBE_PREFIX)}
        for probe in sorted(probes):
            log.info("rental %s: the service's %s yields its GPUs", rental_id, probe)
            await self._remove(probe)
        return await self._busy_gpus() if probes else busy

    async def _create_container(
        self, rental_id: str, body: dict[str, Any], gpus: list[HostGpu]
    ) -> str:
        name = f"rigshare-{rental_id}"
        if not self._disk_limits:
            body["HostConfig"].pop("StorageOpt", None)
        try:
            return await self._engine_create(name, body, gpus)
        except EngineError as exc:
            text = str(exc).lower()
            if "StorageOpt" not in body["HostConfig"] or not any(
                hint in text for hint in _DISK_UNSUPPORTED
            ):
                raise
            if self.config.disk_limits == "required":
                raise EngineError(
                    f"disk limits are required but the engine refused them: {exc}"
                ) from exc
            log.warning("the engine cannot limit disk per container (%s); running without", exc)
            self._disk_limits = False
            body["HostConfig"].pop("StorageOpt")
            return await self._engine_create(name, body, gpus)

    async def _engine_create(self, name: str, body: dict[str, Any], gpus: list[HostGpu]) -> str:
        """podman resolves CDI names only for containers created through its libpod API; its
        compatible API, which serves every other call, drops ``DeviceRequests`` silently."""
        if await self.engine.is_podman():
            if isinstance(self.binding, CdiDevices):
                spec = libpod_spec(name, body, self.binding.names(gpus))
                return await self.engine.create_libpod(spec)
            if "DeviceRequests" in body["HostConfig"]:
                raise EngineError(
                    f"podman ignores the {self.binding.name} GPU binding: "
                    'set gpu_binding = "cdi" (or "devices")'
                )
        return await self.engine.create(name, body)

    async def _ensure_image(self, image: str) -> None:
        if await self.engine.image_inspect(image) is not None:
            return
        ref = parse_image(image)
        repository = f"{ref.registry}/{ref.path}"
        tag = ref.digest if ref.digest else ref.pull_tag
        log.info("pulling %s", image)
        await self.engine.pull(repository, tag)

    async def _ensure_network(self) -> None:
        if not await self.engine.networks({NETWORK_LABEL: "instances"}):
            await self.engine.network_create(network_body())

    def _container_body(
        self,
        rental_id: str,
        image: str,
        gpus: list[HostGpu],
        ports: tuple[int, ...],
        instance: InstanceRequest,
        run: RunDir,
        busy_cores: set[int],
    ) -> dict[str, Any]:
        assert self._toolbox is not None, "start() first"
        return create_body(
            InstanceSpec(rental_id, image, tuple(gpus), ports, instance.limits, NETWORK),
            resources(
                instance.limits,
                EngineShape(self._engine_cpus, self._engine_memory_mib),
                busy_cores,
            ),
            Mounts(self._toolbox, run.path, run.authorized_keys),
            self.binding,
            self.config.publish_ip,
        )

    async def _access(
        self,
        container: str,
        run: RunDir,
        ports: tuple[int, ...],
        token: str | None,
        image: str,
        gpus: list[HostGpu],
        body: dict[str, Any],
    ) -> AccessInfo:
        data = await self.engine.inspect(container)
        if data is None or not data["State"].get("Running"):
            logs = await self.engine.logs(container)
            state = (data or {}).get("State", {})
            raise EngineError(
                f"the instance stopped during start (exit {state.get('ExitCode')}): "
                f"{logs.strip()[-300:]}"
            )
        bound = data["NetworkSettings"]["Ports"] or {}

        def host_port(port: int) -> int:
            bindings = bound.get(f"{port}/tcp") or []
            if not bindings:
                raise EngineError(f"the engine did not publish port {port}")
            return int(bindings[0]["HostPort"])

        access = AccessInfo(
            username="root",
            host=self.ssh_host,
            port=host_port(SSH_PORT),
            host_key_fingerprint=run.fingerprint(),
            ports=tuple((p, host_port(p)) for p in ports),
            jupyter_port=JUPYTER_PORT if token else None,
            jupyter_token=token,
            gpu_uuids=tuple(g.uuid for g in gpus),
            image=image,
        )
        cpuset = body["HostConfig"]["CpusetCpus"]
        await asyncio.to_thread(run.save_access, access, [g.minor for g in gpus], cpuset)
        return access

    async def _wait_for_ssh(self, container: str, port: int) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.ssh_host, port), 5)
                writer.close()
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"SSH of the instance did not answer on {self.ssh_host}:{port}"
                    ) from None
                data = await self.engine.inspect(container)
                if data is None or not data["State"].get("Running"):
                    raise EngineError("the instance stopped while SSH was starting") from None
                await asyncio.sleep(0.05)

    # -- self-test ---------------------------------------------------------------------------
    def gpu_check(self, rental_id: str) -> GpuCheck | None:
        run = RunDir(self.instances_dir / rental_id)
        try:
            uuids, minors = run.gpus()
        except (OSError, ValueError):
            return None
        return gpu_view_check(uuids, minors)

    async def selftest_done(self, rental_id: str) -> None:
        run = RunDir(self.instances_dir / rental_id)
        if run.exists():
            await asyncio.to_thread(run.drop_probe_key)

    # -- end ---------------------------------------------------------------------------------
    async def revoke(self, rental_id: str) -> None:
        rental_id = check_rental_id(rental_id)
        async with self._lock:
            await self._remove(rental_id)

    async def cleanup(self, rental_id: str) -> None:
        await self.revoke(rental_id)

    async def _remove(self, rental_id: str) -> None:
        for container in await self.engine.containers({LABEL: rental_id}):
            # SIGKILL through the engine: every process in the container's cgroup dies, also
            # those a renter stopped with SIGSTOP
            await self.engine.remove(container["Id"])
        run_dir = self.instances_dir / rental_id
        await asyncio.to_thread(shutil.rmtree, run_dir, True)
        log.info("rental %s: instance removed", rental_id)

    async def _container(self, rental_id: str) -> dict[str, Any] | None:
        found = await self.engine.containers({LABEL: rental_id})
        return found[0] if found else None

    async def _busy_gpus(self) -> dict[str, str]:
        busy = {}
        for c in await self.engine.containers({LABEL: None}, all_states=False):
            for uuid in (c.get("Labels", {}).get("rigshare.gpus") or "").split(","):
                if uuid:
                    busy[uuid] = c["Labels"][LABEL]
        return busy

    async def active(self) -> set[str]:
        return {c["Labels"][LABEL] for c in await self.engine.containers({LABEL: None})}

    async def enforce(self) -> set[str]:
        """Remove instances past their deadline, exited ones, and containers with our label
        whose run directory is gone (left by a crash). Holds the grant lock throughout: a
        container that a grant is creating is not running yet, and must not look abandoned.
        While a grant runs (a pull can take minutes) this round is skipped, so the heartbeat
        that calls it is never held up."""
        removed: set[str] = set()
        if self._lock.locked():
            return removed
        async with self._lock:
            now = self._clock()
            for c in await self.engine.containers({LABEL: None}):
                rental_id = c["Labels"][LABEL]
                run = RunDir(self.instances_dir / rental_id)
                deadline = await asyncio.to_thread(run.deadline)
                if deadline is None or deadline <= now or c.get("State") != "running":
                    await self._remove(rental_id)
                    removed.add(rental_id)
        return removed
