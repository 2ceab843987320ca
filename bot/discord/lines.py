"""Slash command options -> the chat line the text grammar reads.

Every slash command is answered by passing the line built here through
``Dispatcher.handle_text``, so a Discord command and the same words typed in Telegram or the
terminal meet the same parser, the same core call and the same text (the parity test holds
it). Nothing here validates: the grammar does, with its own messages.
"""

from __future__ import annotations

from collections.abc import Iterable


def _join(name: str, parts: Iterable[object]) -> str:
    words = [str(p).strip() for p in parts if p is not None and str(p).strip()]
    return " ".join([f"/{name}", *words])


def _opt(key: str, value: object) -> str | None:
    if value is None or not str(value).strip():
        return None
    return f"{key}={str(value).strip()}"


def plain(name: str) -> str:
    return f"/{name}"


def help_line(topic: str | None = None) -> str:
    return _join("help", [topic])


def gpus_line(
    gpu: str | None = None,
    max_price: str | None = None,
    region: str | None = None,
    min_vram: int | None = None,
    min_reliability: int | None = None,
    verified: bool = False,
    sort: str | None = None,
    page: int | None = None,
    min_ram: int | None = None,
    min_disk: int | None = None,
    min_cpu: int | None = None,
    min_cuda: str | None = None,
) -> str:
    return _join(
        "gpus",
        [
            gpu,
            _opt("vram>", min_vram),  # "vram=48" would mean exactly 48 GB
            _opt("max", max_price),
            _opt("region", region),
            _opt("rel", min_reliability),
            "verified" if verified else None,
            _opt("sort", sort),
            _opt("page", page),
            _opt("ram>", min_ram),
            _opt("disk>", min_disk),
            _opt("cpu>", min_cpu),
            _opt("cuda>", min_cuda),
        ],
    )


def rent_line(
    gpu: str,
    duration: str,
    max_price: str | None = None,
    region: str | None = None,
    count: int | None = None,
    template: str | None = None,
    image: str | None = None,
    ports: str | None = None,
    disk: int | None = None,
) -> str:
    return _join(
        "rent",
        [
            gpu,
            duration,
            _opt("max", max_price),
            _opt("region", region),
            _opt("count", count),
            _opt("template", template),
            _opt("image", image),
            _opt("ports", ports),
            _opt("disk", disk),
        ],
    )


def templates_line(gpu: str | None = None) -> str:
    """/templates: a GPU model or a listing number ("#17")."""
    return _join("templates", [gpu])


def ref_line(name: str, rental: str | None = None) -> str:
    """/status, /stop: an optional rental number."""
    return _join(name, [rental])


def extend_line(duration: str, rental: str | None = None) -> str:
    # the grammar reads a bare leading number as the rental: "/extend 12 2h"
    return _join("extend", [rental, duration])


def receipts_line(csv: bool = False) -> str:
    return _join("receipts", ["csv" if csv else None])


def dispute_line(reason: str | None, rental: str | None = None) -> str:
    return _join("dispute", [rental, reason])


def rate_line(stars: int, rental: str | None = None, comment: str | None = None) -> str:
    # "5/5" is read as the stars even when a comment starts with a number ("/rate 5/5 3 days")
    return _join("rate", [rental, f"{stars}/5", comment])


def word_line(name: str, *words: str | None) -> str:
    """/connect, /sshkey, /lang, /register, /addmachine, /pause, /resume: words in order."""
    return _join(name, words)


def price_line(machine: str, price: str, gpu: str | None = None) -> str:
    # the price goes last: the grammar takes the last word as the price unless one is marked
    return _join("price", [machine, gpu, price])
