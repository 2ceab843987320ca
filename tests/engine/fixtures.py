"""pytest fixtures for tests on real container engines (registered in tests/conftest.py).

``docker_engine`` and ``podman_engine`` are session-scoped ``EngineHarness`` objects; each is
started the first time a test asks for it and torn down at the end of the session. They need
root and the Debian packages that scripts/ensure-engine.sh installs: without them the tests
are skipped, except in CI (``CI`` set), where they fail, because CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.engine.harness import (
    HOST_NAMESPACE,
    EngineHarness,
    docker_harness,
    podman_harness,
)

__all__ = [
    "HOST_NAMESPACE",
    "EngineHarness",
    "docker_engine",
    "engine_prerequisites",
    "podman_engine",
]

# Programs each harness runs (package in parentheses), checked before anything is set up.
_COMMON = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "sysctl": "procps",
    "docker-registry": "docker-registry",
    "mmdebstrap": "mmdebstrap",
    "busybox": "busybox-static",
}
_NEEDS = {
    "namespace": _COMMON,
    "docker": {**_COMMON, "dockerd": "docker.io", "containerd": "containerd", "runc": "runc"},
    "podman": {**_COMMON, "podman": "podman", "conmon": "conmon", "runc": "runc"},
}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[EngineHarness]:
    """dockerd in a private network namespace, with the test images in its registry."""
    _require("docker")
    with docker_harness() as harness:
        yield harness


@pytest.fixture
def private_docker_engine() -> Iterator[EngineHarness]:
    """A dockerd harness of the test's own, for checks that must not depend on what earlier
    tests did to the session's engine (disk quotas: on the btrfs data root, qgroup limits
    stopped holding late in a full run while they hold on a fresh file system)."""
    _require("docker")
    with docker_harness() as harness:
        yield harness


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[EngineHarness]:
    """podman's API service in a private network namespace, with the fake GPUs as CDI devices."""
    _require("podman")
    with podman_harness() as harness:
        yield harness


@pytest.fixture(scope="session")
def engine_prerequisites() -> None:
    """For tests that build harness parts themselves: root and the common programs."""
    _require("namespace")


def _require(kind: str) -> None:
    if os.geteuid() != 0:
        _unavailable(f"{kind} tests need root (network namespaces, mknod, mounts)")
    missing = [f"{p} ({pkg})" for p, pkg in _NEEDS[kind].items() if shutil.which(p) is None]
    if missing:
        _unavailable(f"{kind} tests need {', '.join(missing)}: run scripts/ensure-engine.sh")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)", pytrace=False)
    pytest.skip(reason)
