"""/gpus and /rent: order-free words ("/rent 2x h100 for 1 day max=$2.50 image=pytorch")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.domain.durations import is_unit_word, looks_like_duration, parse_duration
from core.domain.gpus import lookup, resolve_gpu
from core.errors import GrammarError
from core.grammar.commands import MAX_GPUS_PER_RENTAL, GpuFilters, Gpus, RentArgs, Templates
from core.grammar.instances import (
    cores,
    cuda,
    gigabytes,
    image_or_template,
    listing_ref,
    ports,
    take_image,
    take_listings,
    template_name,
)
from core.grammar.values import _NUMBER, _price, _q, _region, _small_int

_FILLERS = frozenset({"for", "für", "fuer", "with", "mit"})
_PRICE_WORDS = frozenset({"under", "below", "unter", "max", "bis"})
_OPTION = re.compile(r"([a-z_]+)(>=|<=|=|>|<)(.*)", re.ASCII)
_BARE_OP = re.compile(r"(>=|<=|>|<)([\d$.,].*)")
_COUNT = re.compile(r"(\d{1,3})[x×]|[x×](\d{1,3})", re.ASCII)
_VRAM = re.compile(r"(\d{1,5})(?:gb|g)?\+?", re.ASCII)
_VRAM_UNIT = re.compile(r"(?:gb|g)?\+?$")
_OPTION_KEYS = {
    "max": "max_price", "price": "max_price", "preis": "max_price", "region": "region",
    "count": "count", "n": "count", "vram": "vram", "mem": "vram", "memory": "vram",
    "rel": "rel", "reliability": "rel", "sort": "sort", "page": "page",
    "template": "template", "tpl": "template", "image": "image", "img": "image",
    "ports": "ports", "port": "ports", "disk": "disk", "ram": "ram", "cpu": "cpu",
    "cores": "cpu", "cuda": "cuda",
}  # fmt: skip
_GLUE = re.compile(rf"(^|\s)({'|'.join(_OPTION_KEYS)})?\s*(>=|<=|=|>|<)\s*", re.ASCII)


def _words(args: str) -> list[str]:
    """Casefolded words, spaced operators glued on: "vram >= 48" -> "vram>=48", ">= 48gb"."""
    args = args.replace("\u2265", ">=").replace("\u2264", "<=").casefold()
    return _GLUE.sub(r"\1\2\3", args).split()


_RENT_KEYS = frozenset(
    {"max_price", "region", "count", "duration", "template", "image", "ports", "disk"}
)
_GPUS_KEYS = frozenset(
    {"max_price", "region", "vram", "rel", "sort", "page", "verified", "ram", "disk", "cpu"}
    | {"cuda"}
)


@dataclass
class _Scan:
    options: dict[str, str]
    ops: dict[str, str]  # the comparison an option was given with: "=", ">=", "<"...
    runs: list[list[str]]  # consecutive words that are neither options nor durations
    durations: list[list[str]]


def _duration_length(words: list[str], start: int) -> int:
    """How many words from ``start`` form one duration: "1h", "1 hour 30 minutes", "1h and 30m"."""
    end = start
    while True:
        at = end + 1 if end > start and end < len(words) and words[end] in ("and", "und") else end
        if at < len(words) and looks_like_duration(words[at]):
            end = at + 1
        elif at + 1 < len(words) and _NUMBER.fullmatch(words[at]) and is_unit_word(words[at + 1]):
            end = at + 2
        else:
            return end - start


def _scan(words: list[str], allowed: frozenset[str], example: str) -> _Scan:
    """Sort order-free words into options, durations and runs of (GPU model) words."""
    scan = _Scan({}, {}, [], [])

    def put(key: str, value: str, token: str, op: str = "=") -> None:
        if key not in allowed:
            raise GrammarError.keyed(
                "grammar.misplaced",
                token=_q(token),
                example=example,
            )
        if key in scan.options:
            raise GrammarError.keyed(
                "grammar.option_twice", token=_q(token), option=key.replace("_", " ")
            )
        if not value:
            raise GrammarError.keyed(
                "grammar.needs_value",
                token=_q(token),
                example=example,
            )
        scan.options[key] = value
        scan.ops[key] = op

    i, in_run = 0, False
    while i < len(words):
        word, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
        step, was_run, in_run = 1, in_run, False
        if word in _FILLERS:
            pass
        elif m := _COUNT.fullmatch(word):
            put("count", m.group(1) or m.group(2), word)
        elif word.isascii() and word.isdigit() and nxt in ("x", "×"):
            put("count", word, f"{word} {nxt}")
            step = 2
        elif m := _OPTION.fullmatch(word):
            key = _OPTION_KEYS.get(m.group(1))
            if key is None:
                raise GrammarError.keyed(
                    "grammar.unknown_option",
                    option=_q(m.group(1)),
                    example=example,
                )
            put(key, m.group(3), word, m.group(2))
        elif m := _BARE_OP.fullmatch(word):
            op, value = m.groups()
            key = "rel" if value.endswith("%") else "max_price" if "<" in op else "vram"
            put("vram" if value.endswith(("gb", "g")) else key, value, word, op)
        elif word in _PRICE_WORDS and nxt:
            put("max_price", nxt, f"{word} {nxt}")
            step = 2
        elif word in ("verified", "verifiziert"):
            put("verified", "yes", word)
        elif "duration" in allowed and (length := _duration_length(words, i)):
            scan.durations.append(words[i : i + length])
            step = length
        elif "vram" in allowed and not was_run and _VRAM.fullmatch(word) and word[-1] in "gb+":
            put("vram", word, word, ">=")  # "48gb", "48gb+": at least 48 GB
        else:
            if was_run:
                scan.runs[-1].append(word)
            else:
                scan.runs.append([word])
            in_run = True
        i += step
    return scan


def _split_run(run: list[str]) -> tuple[list[str] | None, list[str]]:
    """The part of ``run`` that names a GPU (whole, else a prefix or suffix) and the rest."""
    if lookup(" ".join(run)):
        return run, []
    for size in range(min(len(run) - 1, 4), 0, -1):
        if lookup(" ".join(run[:size])):
            return run[:size], run[size:]
        if lookup(" ".join(run[-size:])):
            return run[-size:], run[:-size]
    return None, run


def _model(runs: list[list[str]], example: str, *, for_rent: bool) -> str | None:
    """Canonical key of the one GPU the runs name; raises GrammarError or AmbiguousChoice."""
    if not runs:
        return None
    splits = [_split_run(run) for run in runs]
    named = [part for part, _ in splits if part]
    if not named:
        return resolve_gpu(" ".join(runs[0])).key  # raises: unknown GPU, with a suggestion
    for _, rest in splits:
        if rest:
            text = " ".join(rest)
            if for_rent and re.match(r"[-\u2212]?[\d.,]", text):
                parse_duration(text)  # raises DurationError naming the actual problem
            if for_rent:
                raise GrammarError.keyed("grammar.not_rent_word", text=_q(text), example=example)
            raise GrammarError.keyed("grammar.not_gpus_word", text=_q(text), example=example)
    if len(named) > 1:
        first, second = (_q(" ".join(part)) for part in named[:2])
        raise GrammarError.keyed(
            "grammar.two_models",
            first=first,
            second=second,
            example=example,
        )
    return resolve_gpu(" ".join(named[0])).key


def _rent(args: str) -> RentArgs:
    example = "/rent 4090 3h"
    args, images = take_image(args)
    words, listings = take_listings(_words(args))
    scan = _scan(words, _RENT_KEYS, example)
    if len(scan.durations) > 1:
        first, second = (_q(" ".join(span)) for span in scan.durations[:2])
        raise GrammarError.keyed(
            "grammar.two_durations",
            first=first,
            second=second,
            example=example,
        )
    listing = listing_ref(listings)
    model = _model(scan.runs, example, for_rent=True)
    if model is None and listing is None:
        if not scan.durations:
            raise GrammarError.keyed("grammar.rent_what", example=example)
        raise GrammarError.keyed(
            "grammar.rent_which",
            duration=_q(" ".join(scan.durations[0])),
        )
    if not scan.durations:
        raise GrammarError.keyed(
            "grammar.rent_how_long",
            model=model or f"#{listing}",
        )
    opts = scan.options
    template, image = _image_options(opts, images)
    return RentArgs(
        model=model,
        duration_s=parse_duration(" ".join(scan.durations[0])),
        max_price_per_hour=_price(opts["max_price"]) if "max_price" in opts else None,
        region=_region(opts["region"]) if "region" in opts else None,
        count=_small_int(opts.get("count", "1"), 1, MAX_GPUS_PER_RENTAL, "number of GPUs"),
        listing=listing,
        template=template,
        image=image,
        ports=ports(opts["ports"]) if "ports" in opts else (),
        disk_gb=gigabytes(opts["disk"], "disk size in GB") if "disk" in opts else None,
    )


def _image_options(opts: dict[str, str], images: list[str]) -> tuple[str | None, str | None]:
    """(template, image) from ``template=`` and ``image=`` (taken out before folding)."""
    given = images + ([opts["image"]] if "image" in opts else [])
    if len(given) > 1 or (given and "template" in opts):
        raise GrammarError.keyed("grammar.image_and_template")
    if "template" in opts:
        return template_name(opts["template"]), None
    if given:
        if not given[0]:
            raise GrammarError.keyed("grammar.image_empty")
        return image_or_template(given[0])
    return None, None


_SORT_WORDS = {
    "price": "price",
    "cheapest": "price",
    "preis": "price",
    "reliability": "reliability",
}
_SORT_WORDS |= {"rel": "reliability", "vram": "vram", "memory": "vram", "mem": "vram"}


def _gpus(args: str) -> Gpus:
    example = "/gpus 4090 max=$1.20 region=eu"
    scan = _scan(_words(args), _GPUS_KEYS, example)
    opts = scan.options
    sort = sort_order(opts.get("sort", "price"))
    rel = opts.get("rel")
    min_vram, max_vram = _vram_range(opts.get("vram"), scan.ops.get("vram", ">="))
    filters = GpuFilters(
        model=_model(scan.runs, example, for_rent=False),
        min_vram_gb=min_vram,
        max_vram_gb=max_vram,
        max_price_per_hour=_price(opts["max_price"]) if "max_price" in opts else None,
        region=_region(opts["region"]) if "region" in opts else None,
        min_reliability=_small_int(rel.removesuffix("%"), 0, 100, "reliability") if rel else None,
        verified_only="verified" in opts,
        min_ram_gb=gigabytes(opts["ram"], "memory size", 65_536) if "ram" in opts else None,
        min_disk_gb=gigabytes(opts["disk"], "disk size in GB") if "disk" in opts else None,
        min_cpu_cores=cores(opts["cpu"]) if "cpu" in opts else None,
        min_cuda=cuda(opts["cuda"]) if "cuda" in opts else None,
    )
    page = _small_int(opts.get("page", "1"), 1, 10_000, "page")
    return Gpus(filters=filters, sort=sort, page=page)


def _vram_range(value: str | None, op: str) -> tuple[int | None, int | None]:
    """(at least, at most) GB of GPU memory: vram=24 is exactly 24, vram>48 more than 48."""
    if value is None:
        return None, None
    gb = _small_int(_VRAM_UNIT.sub("", value), 1, 4096, "memory size")
    return {
        "=": (gb, gb),
        ">=": (gb, None),
        ">": (gb + 1, None),
        "<=": (None, gb),
        "<": (None, gb - 1),
    }[op]


def _templates(args: str) -> Templates:
    """``/templates``, ``/templates 4090`` or ``/templates #17``."""
    return templates_for(*model_and_listing(args, "/templates 4090", for_rent=False))


def templates_for(model: str | None, listing: int | None) -> Templates:
    if model is not None and listing is not None:
        raise GrammarError.keyed("grammar.templates_args")
    return Templates(model=model, listing=listing)


def model_and_listing(text: str, example: str, *, for_rent: bool) -> tuple[str | None, int | None]:
    """The GPU model and the listing number ("4090", "#17", "h100 #1") that ``text`` names."""
    words, listings = take_listings(_words(text))
    listing = listing_ref(listings)
    runs = _scan(words, frozenset(), example).runs
    return _model(runs, example, for_rent=for_rent), listing


def sort_order(word: str) -> str:
    """The /gpus order a word names ("cheapest" -> "price"); raises GrammarError."""
    sort = _SORT_WORDS.get(word.casefold())
    if sort is None:
        raise GrammarError.keyed(
            "grammar.bad_sort",
            sort=_q(word),
        )
    return sort


def vram_range(value: str | None, op: str) -> tuple[int | None, int | None]:
    return _vram_range(value, op)


def image_options(template: str | None, image: str | None) -> tuple[str | None, str | None]:
    """(template, image) from typed ``template`` and ``image`` options."""
    opts = {"template": template.casefold()} if template is not None else {}
    return _image_options(opts, [image] if image is not None else [])
