"""A Docker create body as podman's own container spec (libpod ``SpecGenerator``).

Why: podman 4.x resolves CDI device names (``nvidia.com/gpu=GPU-<uuid>``) only when a container
is created through its libpod API; its Docker-compatible API fails them at start
("unresolvable CDI devices") and silently drops ``DeviceRequests``, which would start a
rental without its GPU. So with the ``cdi`` binding on podman the backend builds the same body
it gives Docker and turns it into a SpecGenerator here; everything after create (start,
inspect, ports, removal) stays on the compatible API, which serves any podman container.

Field names are podman 4.3's (``pkg/specgen/specgen.go``, ``common/libnetwork/types``, the OCI
runtime spec for ``resource_limits`` and ``mounts``). Anything in the body this module does not
know how to carry over raises ``ValueError``: a limit or a security setting must never be
dropped without a word.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from typing import Any

CPU_PERIOD_US = 100_000  # what podman's compat API uses for NanoCpus, like Docker
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

# HostConfig keys handled below; anything else is refused
_HOST_KEYS = {
    "Binds",
    "PortBindings",
    "NetworkMode",
    "NanoCpus",
    "CpusetCpus",
    "Memory",
    "MemorySwap",
    "ShmSize",
    "PidsLimit",
    "StorageOpt",
    "CapDrop",
    "SecurityOpt",
    "Privileged",
    "Init",
    "RestartPolicy",
    "LogConfig",
    "Devices",
    "DeviceRequests",
}
_CONFIG_KEYS = {
    "Image",
    "Entrypoint",
    "Cmd",
    "User",
    "WorkingDir",
    "Hostname",
    "Env",
    "Labels",
    "ExposedPorts",
    "StopSignal",
    "HostConfig",
}


def libpod_spec(name: str, body: dict[str, Any], cdi_devices: Iterable[str]) -> dict[str, Any]:
    """The SpecGenerator for container ``name`` from Docker create ``body``, with the CDI
    device names ``cdi_devices`` (``vendor.com/class=name``). Raises ValueError for anything
    the body holds that has no faithful libpod form."""
    _refuse_unknown("container", body, _CONFIG_KEYS)
    host = body.get("HostConfig") or {}
    _refuse_unknown("HostConfig", host, _HOST_KEYS)
    if host.get("Privileged"):
        raise ValueError("a privileged container is never created")
    spec: dict[str, Any] = {
        "name": name,
        "image": body["Image"],
        "labels": dict(body.get("Labels") or {}),
        "env": _env(body.get("Env") or []),
        "devices": _devices(host, cdi_devices),
        "mounts": [_bind(b) for b in host.get("Binds") or []],
        "portmappings": _port_mappings(host.get("PortBindings") or {}),
        "expose": _exposed(body.get("ExposedPorts") or {}),
        "resource_limits": _resources(host),
        "cap_drop": list(host.get("CapDrop") or []),
        "no_new_privileges": _no_new_privileges(host.get("SecurityOpt") or []),
        "init": bool(host.get("Init")),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or "no",
    }
    optional = {
        "entrypoint": body.get("Entrypoint"),
        "command": body.get("Cmd"),
        "user": body.get("User"),
        "work_dir": body.get("WorkingDir"),
        "hostname": body.get("Hostname"),
        "shm_size": host.get("ShmSize"),
        "storage_opts": host.get("StorageOpt"),
        "log_configuration": _log_configuration(host.get("LogConfig")),
    }
    spec.update({k: v for k, v in optional.items() if v})
    if body.get("StopSignal"):
        spec["stop_signal"] = _signal_number(body["StopSignal"])
    spec.update(_network(host.get("NetworkMode") or ""))
    return spec


def _refuse_unknown(where: str, given: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"no libpod form for {where} keys {', '.join(unknown)}")


def _env(entries: list[str]) -> dict[str, str]:
    env = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not key or not sep:
            raise ValueError(f"environment entry {entry!r} is not KEY=VALUE")
        env[key] = value
    return env


def _devices(host: dict[str, Any], cdi_devices: Iterable[str]) -> list[dict[str, str]]:
    for request in host.get("DeviceRequests") or []:
        # podman ignores DeviceRequests; a CDI request names the devices given separately
        if request.get("Driver") != "cdi":
            raise ValueError(f"podman cannot honour a {request.get('Driver')!r} device request")
    devices = [{"path": n} for n in cdi_devices]
    for d in host.get("Devices") or []:
        # the "host:container:permissions" form podman's own --device takes
        path = ":".join([d["PathOnHost"], d.get("PathInContainer") or d["PathOnHost"]])
        devices.append({"path": f"{path}:{d.get('CgroupPermissions') or 'rwm'}"})
    return devices


def _bind(bind: str) -> dict[str, Any]:
    parts = bind.split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/"):
        raise ValueError(f"bind {bind!r} is not /host/path:/container/path[:options]")
    options = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o]
    if any(o not in ("ro", "rw") for o in options):
        raise ValueError(f"bind {bind!r}: only ro or rw are carried over")
    return {
        "type": "bind",
        "source": parts[0],
        "destination": parts[1],
        "options": ["rbind", *(options or ["rw"])],
    }


def _port(key: str) -> tuple[int, str]:
    number, _, protocol = key.partition("/")
    return int(number), protocol or "tcp"


def _port_mappings(bindings: dict[str, list[dict[str, str]] | None]) -> list[dict[str, Any]]:
    mappings = []
    for key, host_ports in bindings.items():
        container_port, protocol = _port(key)
        for hp in host_ports or []:
            mappings.append(
                {
                    "container_port": container_port,
                    "host_ip": hp.get("HostIp") or "",
                    "host_port": int(hp.get("HostPort") or 0),  # 0: a free port, picked by podman
                    "protocol": protocol,
                }
            )
    return mappings


def _exposed(ports: dict[str, Any]) -> dict[str, str]:
    # a JSON object's keys are strings; podman decodes them as uint16 port numbers
    return {str(number): protocol for number, protocol in map(_port, ports)}


def _resources(host: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    cpu: dict[str, Any] = {}
    if host.get("NanoCpus"):
        cpu.update(quota=host["NanoCpus"] * CPU_PERIOD_US // 1_000_000_000, period=CPU_PERIOD_US)
    if host.get("CpusetCpus"):
        cpu["cpus"] = host["CpusetCpus"]
    if cpu:
        limits["cpu"] = cpu
    if host.get("Memory"):
        limits["memory"] = {"limit": host["Memory"]}
        if host.get("MemorySwap"):  # OCI's swap is memory + swap, as Docker's MemorySwap
            limits["memory"]["swap"] = host["MemorySwap"]
    if host.get("PidsLimit"):
        limits["pids"] = {"limit": host["PidsLimit"]}
    return limits


def _no_new_privileges(options: list[str]) -> bool:
    unknown = [o for o in options if o not in ("no-new-privileges", "no-new-privileges:true")]
    if unknown:
        raise ValueError(f"no libpod form for security options {', '.join(unknown)}")
    return bool(options)


def _log_configuration(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    driver = config.get("Type") or "k8s-file"
    if driver not in ("json-file", "k8s-file"):
        raise ValueError(f"no libpod form for log driver {driver!r}")
    size = (config.get("Config") or {}).get("max-size")
    # podman writes json-file logs as k8s-file; it keeps one file, truncated at the size
    out: dict[str, Any] = {"driver": "k8s-file"}
    if size:
        out["size"] = _bytes(size)
    return out


def _bytes(text: str) -> int:
    """Docker's size notation as it appears in log options: "1m", "10k", "1mb", "512"."""
    t = text.strip().lower()
    t = t.removesuffix("b")
    number, unit = (t[:-1], t[-1]) if t[-1:].isalpha() else (t, "")
    if not number.isdigit() or unit not in _UNITS:
        raise ValueError(f"size {text!r} is not a number with k, m or g")
    return int(number) * _UNITS[unit]


def _signal_number(name: str) -> int:
    try:
        return int(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
    except KeyError:
        raise ValueError(f"unknown stop signal {name!r}") from None


def _network(mode: str) -> dict[str, Any]:
    if mode in ("", "default", "bridge"):
        return {"netns": {"nsmode": "bridge"}}
    if mode in ("none", "host"):
        return {"netns": {"nsmode": mode}}
    if ":" in mode:
        raise ValueError(f"no libpod form for network mode {mode!r}")
    # a named network (the rental's own bridge): join it and no other
    return {"netns": {"nsmode": "bridge"}, "Networks": {mode: {}}}
