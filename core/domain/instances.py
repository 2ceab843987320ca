"""Instances: what a rental runs on the provider's host (a container with exactly the rented
GPUs), as values both the service and the agent understand.

An image reference follows the container engines' grammar (``[registry[:port]/]path[:tag]
[@sha256:digest]``); a bare ``name`` means Docker Hub's ``library/name``. Limits are the rented
share of the machine: renting 2 of 8 GPUs gets a quarter of its CPU cores, memory and disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NotRequired, TypedDict

# what the service stores of an agent's report (re-exported: callers import them from here too)
from core.domain.limits import (  # noqa: F401
    MAX_CPU_MODEL,
    MAX_CUDA_VERSION,
    MAX_DRIVER_VERSION,
    MAX_GPU_UUID,
    MAX_IMAGE_REF,
)

TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?:(?P<registry>(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::[0-9]{{1,5}})?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
DOCKER_HUB = "docker.io"
MAX_PORTS = 8
RESERVED_PORTS = frozenset({22})  # the instance's own SSH
MIN_MEMORY_MIB = 512
MIN_PIDS = 256
PIDS_PER_CORE = 1024


class InstanceError(ValueError):
    """A bad image reference, template name, port list or limit (message says which)."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference; ``registry`` is always explicit (``docker.io`` by default)."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The fully qualified reference a container engine pulls."""
        out = f"{self.registry}/{self.path}"
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def pull_tag(self) -> str:
        """The tag to pull when no digest pins the image (``latest`` when none is named)."""
        return self.tag or "latest"


def parse_image(text: str) -> ImageRef:
    """Parse ``text`` as an image reference; raise InstanceError with the reason."""
    text = text.strip()
    if not text or len(text) > MAX_IMAGE_REF:
        raise InstanceError("an image reference has 1 to 255 characters")
    match = _IMAGE.match(text)
    if match is None:
        raise InstanceError(f"{text!r} is not an image reference like repo/name:tag")
    registry, path = match["registry"], match["path"]
    # the first component names a registry only if it looks like a host (Docker's own rule)
    if registry is not None and not ("." in registry or ":" in registry or registry == "localhost"):
        if not re.fullmatch(_COMPONENT, registry):
            raise InstanceError(f"{text!r}: repository names are lower case")
        path = f"{registry}/{path}"
        registry = None
    if registry is None:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return ImageRef(registry.lower(), path, match["tag"], match["digest"])


def registry_allowed(image: ImageRef, allowed: tuple[str, ...] | list[str]) -> bool:
    """Whether ``image`` comes from one of the ``allowed`` registries (host[:port], any case)."""
    return image.registry in {a.strip().lower() for a in allowed}


def check_template_name(name: str) -> str:
    name = name.strip().lower()
    if not TEMPLATE_NAME.match(name):
        raise InstanceError(f"{name!r} is not a template name (letters, digits, dashes)")
    return name


def check_ports(ports: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Container ports a renter wants published: 1..65535, not 22, no repeats, at most 8."""
    if len(ports) > MAX_PORTS:
        raise InstanceError(f"at most {MAX_PORTS} ports can be published")
    seen: list[int] = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InstanceError(f"{port!r} is not a port number (1-65535)")
        if port in RESERVED_PORTS:
            raise InstanceError(f"port {port} is the instance's own SSH; it is always there")
        if port in seen:
            raise InstanceError(f"port {port} is named twice")
        seen.append(port)
    return tuple(sorted(seen))


@dataclass(frozen=True, slots=True)
class MachineShape:
    """What the host has for instances (reported by its agent)."""

    gpu_count: int
    cpu_cores: int
    ram_mib: int
    disk_gib: int


@dataclass(frozen=True, slots=True)
class Limits:
    """One instance's limits: CPU in thousandths of a core, memory, shm, disk and pids."""

    cpu_millis: int
    memory_mib: int
    disk_gib: int
    shm_mib: int
    pids: int


def share_limits(shape: MachineShape, gpus: int) -> Limits:
    """The rented share of the machine: ``gpus / shape.gpu_count`` of each resource.

    Integer arithmetic, rounded down, with small floors so that one GPU of a big host still
    gets a usable instance; shm is a quarter of the memory (PyTorch data loaders need it).
    """
    if not 1 <= gpus <= shape.gpu_count:
        raise InstanceError(f"this machine has {shape.gpu_count} GPUs, not {gpus}")
    total = shape.gpu_count
    cpu_millis = max(500, shape.cpu_cores * 1000 * gpus // total)
    memory = max(MIN_MEMORY_MIB, shape.ram_mib * gpus // total)
    disk = max(1, shape.disk_gib * gpus // total)
    pids = max(MIN_PIDS, PIDS_PER_CORE * cpu_millis // 1000)
    return Limits(cpu_millis, memory, disk, max(64, memory // 4), pids)


# -- what a renter asks for, and what went wrong ----------------------------------------------

MAX_DISK_GB = 100_000  # a disk= request beyond this is a typo, not a machine
_CUDA = re.compile(r"^(\d{1,3})(?:\.(\d{1,2}))?(?:\.\d{1,4})?$")


@dataclass(frozen=True, slots=True)
class InstanceAsk:
    """What a renter wants to run: a template by name or a custom image (not both), container
    ports to publish and at least ``disk_gb`` of disk. Empty: the machine's default template."""

    template: str | None = None
    image: ImageRef | None = None
    ports: tuple[int, ...] = ()
    disk_gb: int | None = None

    @property
    def empty(self) -> bool:
        return self == InstanceAsk()


class AskRecord(TypedDict):
    """An ``InstanceAsk`` as a rental stores it (JSON values)."""

    template: str | None
    image: str | None  # the reference as the renter gave it
    ports: list[int]
    disk_gb: int | None


class InstanceRecord(TypedDict):
    """What a quoted rental runs (``Rental.instance``, stored as JSON): the grants are built
    from it, so the first grant and every extension carry the same instance. ``ask`` and
    ``simulated`` are missing from rentals quoted before they were recorded."""

    image: str
    template: str | None
    jupyter: bool
    ports: list[int]
    limits: dict[str, int]  # ``Limits`` by field name
    ask: NotRequired[AskRecord]
    simulated: NotRequired[bool]


def cuda_number(version: str | None) -> int | None:
    """A CUDA version as one comparable number: "12.4" -> 1204, "12" -> 1200; None if
    ``version`` is not a version (a simulated host says "sim")."""
    match = _CUDA.match((version or "").strip())
    if match is None:
        return None
    return int(match[1]) * 100 + int(match[2] or 0)


# Why a grant failed, as a renter may be told it (never the agent's own words: they are a
# provider's claim and may hold paths or log lines). First match wins.
FAILURE_KINDS = (
    ("image", ("pull", "manifest", "registry")),
    ("gpu", ("gpu", "nvidia", "cdi", "/dev/")),
    ("selftest", ("self-test", "selftest", "self test", "login", "ssh")),
    ("image", ("image",)),
    ("start", ("start", "container", "create", "exit", "oom", "timeout", "disk", "space")),
)


def failure_kind(error: str | None) -> str:
    """``gpu``, ``image``, ``selftest``, ``start`` or ``other`` for an agent's error text."""
    text = (error or "").casefold()
    for kind, words in FAILURE_KINDS:
        if any(w in text for w in words):
            return kind
    return "other"
