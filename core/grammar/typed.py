"""Commands from typed option values (Discord slash options): one builder per command.

Each option goes through the value parser the text grammar uses for the same words
(``_price``, ``parse_duration``, ``_region``, ``model_and_listing``...), so a bad value is
refused with the same message whether it was typed in a line or picked in a form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.domain.durations import parse_duration
from core.domain.gpus import resolve_gpu
from core.grammar import commands as c
from core.grammar.account import lang_code, one_word_machine, payout_address, public_key
from core.grammar.instances import cores, cuda, gigabytes, ports
from core.grammar.market import (
    image_options,
    model_and_listing,
    sort_order,
    templates_for,
)
from core.grammar.rentals import connect_action, stars
from core.grammar.values import (
    IntWhat,
    _free_text,
    _machine,
    _must_ref,
    _price,
    _region,
    _small_int,
)

Values = Mapping[str, Any]
Builder = Callable[[Values], c.Command]


def _text(v: Values, name: str) -> str | None:
    value = v.get(name)
    return str(value).strip() or None if value is not None else None


def _int(v: Values, name: str, what: IntWhat, low: int, high: int) -> int | None:
    value = v.get(name)
    return None if value is None else _small_int(str(value), low, high, what)


def _ref(v: Values, example: str) -> str | None:
    rental = _text(v, "rental")
    return _must_ref(rental, example) if rental else None


def _gpus(v: Values) -> c.Gpus:
    example = "/gpus 4090 max=$1.20 region=eu"
    gpu, rel = _text(v, "gpu"), v.get("min_reliability")
    min_vram = _int(v, "min_vram", "memory size", 1, 4096)
    ram, disk, cpu, cuda_text = (
        _text(v, k) for k in ("min_ram", "min_disk", "min_cpu", "min_cuda")
    )
    filters = c.GpuFilters(
        model=model_and_listing(gpu, example, for_rent=False)[0] if gpu else None,
        min_vram_gb=min_vram,
        max_price_per_hour=_price(v["max_price"]) if _text(v, "max_price") else None,
        region=_region(v["region"].strip().casefold()) if _text(v, "region") else None,
        min_reliability=None if rel is None else _small_int(str(rel), 0, 100, "reliability"),
        verified_only=bool(v.get("verified")),
        min_ram_gb=gigabytes(ram, "memory size", 65_536) if ram else None,
        min_disk_gb=gigabytes(disk, "disk size in GB") if disk else None,
        min_cpu_cores=cores(cpu) if cpu else None,
        min_cuda=cuda(cuda_text.casefold()) if cuda_text else None,
    )
    sort = sort_order(_text(v, "sort") or "price")
    return c.Gpus(filters=filters, sort=sort, page=_int(v, "page", "page", 1, 10_000) or 1)


def _rent(v: Values) -> c.RentArgs:
    model, listing = model_and_listing(v["gpu"], "/rent 4090 3h", for_rent=True)
    duration_s = parse_duration(v["duration"].strip().casefold())
    template, image = image_options(_text(v, "template"), _text(v, "image"))
    disk = _text(v, "disk")
    return c.RentArgs(
        model=model,
        duration_s=duration_s,
        max_price_per_hour=_price(v["max_price"]) if _text(v, "max_price") else None,
        region=_region(v["region"].strip().casefold()) if _text(v, "region") else None,
        count=_int(v, "count", "number of GPUs", 1, c.MAX_GPUS_PER_RENTAL) or 1,
        listing=listing,
        template=template,
        image=image,
        ports=ports(v["ports"].strip().casefold()) if _text(v, "ports") else (),
        disk_gb=gigabytes(disk, "disk size in GB") if disk else None,
    )


def _templates(v: Values) -> c.Templates:
    gpu = _text(v, "gpu")
    return templates_for(*model_and_listing(gpu or "", "/templates 4090", for_rent=False))


def _extend(v: Values) -> c.Extend:
    return c.Extend(
        duration_s=parse_duration(v["duration"].strip().casefold()),
        rental_ref=_ref(v, "/extend 12 2h"),
    )


def _dispute(v: Values) -> c.Dispute:
    reason = _free_text((_text(v, "reason") or "").split(), "reason")
    return c.Dispute(rental_ref=_ref(v, "/dispute 12 it rebooted"), reason=reason)


def _rate(v: Values) -> c.Rate:
    comment = _free_text((_text(v, "comment") or "").split(), "comment")
    return c.Rate(rental_ref=_ref(v, "/rate 12 5"), stars=stars(v["stars"]), comment=comment)


def _addmachine(v: Values) -> c.AddMachine:
    words = v["machine"].split()
    if len(words) != 1:
        raise one_word_machine(words or [""])
    region = _text(v, "region")
    return c.AddMachine(
        machine=_machine(words[0]), region=_region(region.casefold()) if region else None
    )


def _price_cmd(v: Values) -> c.Price:
    gpu = _text(v, "gpu")
    return c.Price(
        machine=_machine(v["machine"].strip()),
        price_per_hour=_price(v["price"].strip()),
        model=resolve_gpu(gpu.casefold()).key if gpu else None,
    )


def _machine_or_all(cls: type[c.Pause] | type[c.Resume]) -> Builder:
    def build(v: Values) -> c.Command:
        machine = _text(v, "machine")
        return cls(machine=_machine(machine) if machine else None)

    return build


BUILDERS: dict[str, Builder] = {
    "start": lambda v: c.Start(),
    "gpus": _gpus, "rent": _rent, "templates": _templates,
    "status": lambda v: c.Status(rental_ref=_ref(v, "/status 12")),
    "extend": _extend,
    "stop": lambda v: c.Stop(rental_ref=_ref(v, "/stop 12")),
    "receipts": lambda v: c.Receipts(export_csv=bool(v.get("csv"))),
    "dispute": _dispute, "rate": _rate,
    "connect": lambda v: c.Connect(action=connect_action(_text(v, "action") or "")),
    "sshkey": lambda v: c.SshKey(public_key=public_key(_text(v, "key") or "")),
    "lang": lambda v: c.Lang(lang=lang_code(_text(v, "lang") or "")),
    "cancel": lambda v: c.Cancel(),
    "register": lambda v: c.Register(payout_address=payout_address(_text(v, "payout_address") or "")),
    "addmachine": _addmachine,
    "machines": lambda v: c.Machines(),
    "price": _price_cmd,
    "pause": _machine_or_all(c.Pause), "resume": _machine_or_all(c.Resume),
    "earnings": lambda v: c.Earnings(),
    "removemachine": lambda v: c.RemoveMachine(
        machine=_machine(v["machine"].strip()), confirmed=bool(v.get("confirm"))
    ),
    "rotatetoken": lambda v: c.RotateToken(machine=_machine(v["machine"].strip())),
}  # fmt: skip
