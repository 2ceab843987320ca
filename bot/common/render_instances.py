"""Rendering of what instances add: a listing's machine and per-GPU share, a rental's instance,
the credentials of an instance, a failed grant, and /templates. Platform-neutral text."""

from __future__ import annotations

import re

from bot.common.i18n import t
from core.notifications.rentals import CredentialsReady, SetupFailed
from core.services.base import gpu_name
from core.services.views import InstanceView, MachineSpecsView, TemplatesView

_CPU_NOISE = re.compile(
    r"\((?:R|TM)\)|\bCPU\b|\bProcessor\b|\b\d+-Cores?\b|@\s*[\d.]+\s*GHz", re.IGNORECASE
)


def short_cpu(model: str) -> str:
    """ "AMD EPYC 7543 32-Core Processor" -> "AMD EPYC 7543" (the cores are shown anyway)."""
    return " ".join(_CPU_NOISE.sub(" ", model).split()) or model


def cpus(millis: int) -> str:
    """Thousandths of a core as a person writes them: 8000 -> "8", 2500 -> "2.5"."""
    whole, frac = divmod(millis, 1000)
    return f"{whole}.{frac // 100}" if frac >= 100 else str(whole)


def machine_line(lang: str, s: MachineSpecsView) -> str | None:
    """CPU, RAM, free disk, driver, CUDA, PCIe and network of a listing's machine."""
    parts = []
    if s.cpu_model or s.cpu_cores:
        if s.cpu_cores:
            model = short_cpu(s.cpu_model) if s.cpu_model else "CPU"
            parts.append(t(lang, "gpus.cpu", model=model, cores=s.cpu_cores))
        elif s.cpu_model:
            parts.append(short_cpu(s.cpu_model))
    if s.ram_mib is not None:
        parts.append(t(lang, "gpus.ram", gb=s.ram_mib // 1024))
    if s.disk_free_gib is not None:
        parts.append(t(lang, "gpus.disk", gb=s.disk_free_gib))
    if s.driver_version:
        parts.append(t(lang, "gpus.driver", version=s.driver_version))
    if s.cuda_version:
        parts.append(t(lang, "gpus.cuda", version=s.cuda_version))
    if s.pcie_gen and s.pcie_width:
        parts.append(t(lang, "gpus.pcie", gen=s.pcie_gen, width=s.pcie_width))
    if s.net_down_mbps is not None and s.net_up_mbps is not None:
        parts.append(t(lang, "gpus.net", down=s.net_down_mbps, up=s.net_up_mbps))
    return "   " + " · ".join(parts) if parts else None


def share_line(lang: str, s: MachineSpecsView) -> str | None:
    """What one rented GPU gets of the machine (the instance's limits)."""
    if s.share_cpu_millis is None or s.share_ram_mib is None or s.share_disk_gib is None:
        return None
    line = t(
        lang,
        "gpus.share",
        cpu=cpus(s.share_cpu_millis),
        ram=s.share_ram_mib // 1024,
        disk=s.share_disk_gib,
    )
    if s.backend == "simulated":
        line += t(lang, "gpus.simulated")
    return "   " + line


def instance_line(lang: str, i: InstanceView) -> str:
    image = f"{i.template} ({i.image})" if i.template else i.image
    text = t(
        lang,
        "instance.line",
        image=image,
        cpu=cpus(i.cpu_millis),
        ram=i.memory_mib // 1024,
        disk=i.disk_gib,
    )
    if i.jupyter:
        text += t(lang, "instance.jupyter")
    if i.ports:
        text += "\n" + t(lang, "instance.ports", ports=", ".join(map(str, i.ports)))
    if i.simulated:
        text += "\n" + t(lang, "instance.simulated")
    return text


def credentials(lang: str, n: CredentialsReady, paid_until: str) -> str:
    """The credentials of an instance: SSH, host key, GPUs, image, ports, Jupyter."""
    user, host, port = n.username, n.host, n.port
    lines = []
    if n.simulated:  # said first: the ssh line below refuses to connect (a demo host)
        lines.append(t(lang, "creds.simulated"))
    lines += [
        t(lang, "creds.head", rental_id=n.rental_id),
        f"ssh -p {port} {user}@{host}",
        t(lang, "creds.host_key", fingerprint=n.host_key_fingerprint),
    ]
    if n.gpu_uuids:
        lines.append(t(lang, "creds.gpus", gpus=", ".join(n.gpu_uuids)))
    if n.image:
        lines.append(t(lang, "creds.image", image=n.image))
    for container, published in n.ports:
        lines.append(t(lang, "creds.port", container=container, host=host, port=published))
    if n.jupyter_port and n.jupyter_token:
        tunnel = f"ssh -N -L 8888:127.0.0.1:{n.jupyter_port} -p {port} {user}@{host}"
        url = f"http://127.0.0.1:8888/lab?token={n.jupyter_token}"
        lines.append(t(lang, "creds.jupyter", tunnel=tunnel, url=url))
    lines.append(t(lang, "creds.paid_until", paid_until=paid_until))
    if n.key_generated:
        lines.append(t(lang, "creds.key", rental_id=n.rental_id))
    lines.append(t(lang, "creds.deleted"))
    return "\n".join(lines)


def setup_failed(lang: str, n: SetupFailed) -> str:
    why = n.why if n.why in ("image", "gpu", "start", "selftest") else "other"
    reason = t(lang, f"notify.why.{why}", image=n.image or "-")
    return t(lang, "notify.setup_failed", rental_id=n.rental_id, reason=reason)


def templates(lang: str, v: TemplatesView) -> str:
    scope = f" #{v.listing_id}" if v.listing_id is not None else ""
    if v.model and not scope:
        scope = f" {gpu_name(v.model)}"
    if not v.templates:
        return t(lang, "templates.empty", scope=scope)
    lines = [t(lang, "templates.header", scope=scope)]
    for x in v.templates:
        shown = x.listing_ids[:6]
        listings = ", ".join(f"#{i}" for i in shown)
        if len(x.listing_ids) > len(shown):
            listings += t(lang, "templates.more", count=len(x.listing_ids) - len(shown))
        lines.append(
            t(
                lang,
                "templates.row",
                name=x.name,
                title=x.title,
                jupyter=t(lang, "templates.jupyter") if x.jupyter else "",
                listings=listings,
            )
        )
    example = f"#{v.listing_id}" if v.listing_id is not None else gpu_name(v.model or "rtx4090")
    lines.append(t(lang, "templates.footer", example=example, name=v.templates[0].name))
    return "\n".join(lines)
