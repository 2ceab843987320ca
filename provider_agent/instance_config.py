"""The provider's instance settings: the container engine, GPU binding, templates, registries.

Read from a TOML file (``rigshare-agent --config /etc/rigshare-agent.toml``); every key is
optional. Example::

    [engine]
    socket = "/var/run/docker.sock"
    gpu_binding = "nvidia"          # nvidia | cdi | devices
    publish_ip = "0.0.0.0"
    disk_limits = "auto"            # auto | required | off

    [images]
    custom = false                  # renters may name any image from `registries`
    registries = ["docker.io", "ghcr.io", "quay.io", "nvcr.io"]
    max_ports = 4
    default = "pytorch"

    [[images.template]]
    name = "pytorch"
    image = "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    title = "PyTorch 2.5, CUDA 12.4"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from core.domain.instances import InstanceError, check_template_name, parse_image

GpuBindingName = Literal["nvidia", "cdi", "devices"]
DiskLimits = Literal["auto", "required", "off"]


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    image: str  # fully qualified (core.domain.instances.ImageRef.reference)
    title: str
    jupyter: bool = False


DEFAULT_TEMPLATES = (
    Template("base", "docker.io/library/ubuntu:22.04", "Ubuntu 22.04"),
    Template(
        "pytorch",
        "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        "PyTorch 2.5, CUDA 12.4",
    ),
    Template(
        "jupyter",
        "quay.io/jupyter/pytorch-notebook:cuda12-python-3.11",
        "JupyterLab with PyTorch, CUDA 12",
        jupyter=True,
    ),
)
DEFAULT_REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "nvcr.io")


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    socket: str = "/var/run/docker.sock"
    api_version: str = "v1.41"
    gpu_binding: GpuBindingName = "nvidia"
    device_dir: Path = Path("/dev")  # where the GPUs' device nodes are (devices binding)
    publish_ip: str = "0.0.0.0"
    disk_limits: DiskLimits = "auto"
    firewall: bool = True  # iptables: no instance reaches the host or a private network
    engine_netns: str | None = None  # the engine runs in this network namespace (ip netns)
    state_dir: Path = Path("/var/lib/rigshare-agent")
    templates: tuple[Template, ...] = DEFAULT_TEMPLATES
    default_template: str = "pytorch"
    custom_images: bool = False
    registries: tuple[str, ...] = DEFAULT_REGISTRIES
    max_ports: int = 4
    start_timeout_s: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)

    def template(self, name: str) -> Template | None:
        return next((t for t in self.templates if t.name == name), None)


def _template(raw: dict[str, Any]) -> Template:
    name = check_template_name(str(raw["name"]))
    image = parse_image(str(raw["image"])).reference
    return Template(name, image, str(raw.get("title", name))[:128], bool(raw.get("jupyter")))


def load_config(path: Path | None, **overrides: Any) -> InstanceConfig:
    """The config in ``path`` (defaults where a key is missing), then ``overrides``.

    Raises ValueError with the key and the reason for anything malformed.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from exc
    engine, images = data.get("engine", {}), data.get("images", {})
    values: dict[str, Any] = {}
    for key in ("socket", "api_version", "publish_ip", "engine_netns"):
        if key in engine:
            values[key] = str(engine[key])
    for key, allowed in (("gpu_binding", GpuBindingName), ("disk_limits", DiskLimits)):
        if key in engine:
            if engine[key] not in allowed.__args__:
                raise ValueError(f"engine.{key} must be one of {', '.join(allowed.__args__)}")
            values[key] = engine[key]
    if "device_dir" in engine:
        values["device_dir"] = Path(engine["device_dir"])
    if "state_dir" in engine:
        values["state_dir"] = Path(engine["state_dir"])
    if "firewall" in engine:
        values["firewall"] = bool(engine["firewall"])
    try:
        if "template" in images:
            values["templates"] = tuple(_template(t) for t in images["template"])
        if "registries" in images:
            values["registries"] = tuple(str(r).lower() for r in images["registries"])
    except (KeyError, InstanceError) as exc:
        raise ValueError(f"images: {exc}") from exc
    if "custom" in images:
        values["custom_images"] = bool(images["custom"])
    if "max_ports" in images:
        values["max_ports"] = max(0, min(8, int(images["max_ports"])))
    values.update(overrides)
    config = InstanceConfig(**values)
    if "default" in images:
        config = _with_default(config, str(images["default"]))
    elif config.template(config.default_template) is None and config.templates:
        config = _with_default(config, config.templates[0].name)
    return config


def _with_default(config: InstanceConfig, name: str) -> InstanceConfig:
    if config.template(name) is None:
        raise ValueError(f"images.default names no template: {name!r}")
    return replace(config, default_template=name)
