"""One whole harness: a provider namespace with a registry of test images, fake GPUs and a
container engine (dockerd or podman), described by a frozen ``EngineHarness``.

Start one by hand to poke at it: ``sudo .venv/bin/python -m tests.engine.harness docker``
(or ``podman``) prints the harness and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tests.engine import leftovers
from tests.engine.dockerd import running_dockerd
from tests.engine.gpus import FakeGpus, make_fake_gpus, write_cdi_spec
from tests.engine.imagebuild import ensure_layers
from tests.engine.images import publish
from tests.engine.netns import ProviderNetwork, create_provider_network, delete_provider_network
from tests.engine.netns import run_in_netns as _run_in_netns
from tests.engine.podman import CDI_DIR, cdi_spec_path, running_podman
from tests.engine.recipes import RECIPES
from tests.engine.registry import Registry, running_registry
from tests.engine.tcpserver import TcpServer, serve_tcp
from tests.engine.unixhttp import UnixHttp

HOST_NAMESPACE = "host"  # names the host's own network namespace in run_in_netns/serve_tcp


@dataclass(frozen=True)
class EngineHarness:
    """A running harness; the engine starts with no images and no containers."""

    engine: str  # "docker" or "podman"
    socket_path: Path  # the engine's API (podman: Docker-compatible and libpod API)
    netns: str  # the provider host's network namespace; the engine runs in it
    wan_netns: str
    host_address: str  # provider host, namespace end of the LAN link: renters connect here
    lan_address: str  # host end of the LAN link: the provider's LAN, where renters come from
    wan_address: str  # "192.0.2.1": a non-private address, reachable from the provider host
    registry: str  # "127.0.0.1:5000", as seen from inside the provider namespace
    images: Mapping[str, str]  # recipe name -> reference in the registry (not pulled yet)
    device_dir: Path  # fake GPU device nodes nvidia0..N, nvidiactl, nvidia-uvm
    gpus: tuple[tuple[str, int], ...]  # (uuid "GPU-...", minor) per fake GPU, by index
    # StorageOpt {"size": ...} is enforced (dockerd probed). On the btrfs driver (used where
    # the kernel has no XFS quotas) the limit counts the image's own files as well, unlike
    # overlay2 on XFS, and df inside the container shows the whole file system.
    disk_limits: bool
    disk_limits_notes: str  # why not, or why btrfs rather than overlay2 on XFS
    cgroup_version: int  # from the engine's /info
    storage_driver: str  # "overlay2" or "btrfs" (docker), "overlay" (podman)
    cdi_dir: Path | None  # podman: where its CDI spec for the fake GPUs is; docker: None
    cdi_spec: Path | None
    workdir: Path  # everything of this harness lives here; removed at teardown
    logs: Mapping[str, Path] = field(default_factory=dict)  # part name -> log file

    @property
    def api(self) -> UnixHttp:
        return UnixHttp(self.socket_path)

    def run_in_netns(
        self, argv: Sequence[str], netns: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (output captured as text) in the provider namespace, or in ``netns``:
        ``self.wan_netns`` or HOST_NAMESPACE."""
        return _run_in_netns(_namespace(netns or self.netns), argv, timeout=timeout)

    def serve_tcp(
        self, namespace: str, address: str, port: int = 0
    ) -> contextlib.AbstractContextManager[TcpServer]:
        """An echo server (it answers an HTTP GET with "ok") on ``address:port`` inside
        ``namespace`` (``self.netns``, ``self.wan_netns`` or HOST_NAMESPACE) for the ``with``
        block; entered once it listens. Port 0 picks a free one: see ``TcpServer.port``."""
        return serve_tcp(_namespace(namespace), address, port, self.workdir / "tcp")

    def failure_context(self) -> str:
        """The end of every part's log, for an assertion message."""
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"--- {name}: {path} ---\n" + "\n".join(text.splitlines()[-30:]))
        return "\n".join(parts)


@dataclass(frozen=True)
class _Provider:
    """What both harnesses share: the namespaces, fake GPUs and the registry with its images."""

    workdir: Path
    network: ProviderNetwork
    fake_gpus: FakeGpus
    registry: Registry
    images: Mapping[str, str]

    def harness_fields(self) -> dict[str, Any]:
        return {
            "netns": self.network.netns,
            "wan_netns": self.network.wan_netns,
            "host_address": self.network.host_address,
            "lan_address": self.network.lan_address,
            "wan_address": self.network.wan_address,
            "registry": self.registry.address,
            "images": self.images,
            "device_dir": self.fake_gpus.device_dir,
            "gpus": tuple((gpu.uuid, gpu.minor) for gpu in self.fake_gpus.gpus),
            "workdir": self.workdir,
        }


@contextlib.contextmanager
def docker_harness() -> Iterator[EngineHarness]:
    """A whole harness around dockerd; HarnessError (with the failing part's log) otherwise."""
    with _provider() as provider:
        cgroup_parent = f"/rigshare-test-{provider.network.netns}"
        leftovers.record(provider.workdir, cgroup_parent=cgroup_parent)
        workdir = provider.workdir / "docker"
        with running_dockerd(provider.network.netns, workdir, cgroup_parent) as dockerd:
            info = dockerd.api.call("GET", "/info")
            yield EngineHarness(
                **provider.harness_fields(),
                engine="docker",
                socket_path=dockerd.socket_path,
                disk_limits=dockerd.disk_limits,
                disk_limits_notes=dockerd.disk_limits_notes,
                cgroup_version=int(info.get("CgroupVersion") or 1),
                storage_driver=dockerd.storage_driver,
                cdi_dir=None,
                cdi_spec=None,
                logs=MappingProxyType(
                    {"dockerd": dockerd.log_path, "registry": provider.registry.log_path}
                ),
            )


@contextlib.contextmanager
def podman_harness() -> Iterator[EngineHarness]:
    """A whole harness around podman, with the fake GPUs as CDI devices."""
    with _provider() as provider:
        spec = cdi_spec_path()
        leftovers.record(provider.workdir, cdi_spec=str(spec))
        write_cdi_spec(provider.fake_gpus, spec)
        try:
            with running_podman(provider.network.netns, provider.workdir / "podman") as podman:
                info = podman.api.call("GET", "/info")
                yield EngineHarness(
                    **provider.harness_fields(),
                    engine="podman",
                    socket_path=podman.socket_path,
                    disk_limits=False,
                    disk_limits_notes="podman's overlay storage is a plain directory",
                    cgroup_version=int(info.get("CgroupVersion") or 1),
                    storage_driver=str(info.get("Driver", "overlay")),
                    cdi_dir=CDI_DIR,
                    cdi_spec=spec,
                    logs=MappingProxyType(
                        {"podman": podman.log_path, "registry": provider.registry.log_path}
                    ),
                )
        finally:
            spec.unlink(missing_ok=True)


@contextlib.contextmanager
def _provider() -> Iterator[_Provider]:
    leftovers.sweep()
    # On a cold cache this is the long part (a minute or two); nothing is set up before it.
    layers = ensure_layers(RECIPES)
    workdir = Path(tempfile.mkdtemp(prefix=leftovers.WORKDIR_PREFIX))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(leftovers.remove_workdir, workdir)
        leftovers.record(workdir)
        network = create_provider_network()
        cleanup.callback(delete_provider_network, network)
        leftovers.record(workdir, netns=[network.netns, network.wan_netns])
        fake_gpus = make_fake_gpus(workdir / "dev")
        registry = cleanup.enter_context(
            running_registry(network.netns, workdir / "registry", workdir / "registry" / "data")
        )
        images = {recipe.name: publish(registry, recipe, layers[recipe.name]) for recipe in RECIPES}
        yield _Provider(workdir, network, fake_gpus, registry, MappingProxyType(images))


def _namespace(name: str) -> str | None:
    return None if name == HOST_NAMESPACE else name


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else "docker"
    harness = {"docker": docker_harness, "podman": podman_harness}[kind]
    with harness() as running:
        for name, value in vars(running).items():
            print(f"{name:15} {value}")
        print(f"\nDOCKER_HOST=unix://{running.socket_path}  (Ctrl-C stops and removes it all)")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
