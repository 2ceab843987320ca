"""What a renter asks an instance to be: ``image=``, ``template=``, ``ports=``, ``disk=``, a
listing number (``#17``), and the /gpus machine filters (``ram>=64 disk>=200 cuda>=12.4``)."""

from __future__ import annotations

import re

from core.domain.instances import (
    MAX_DISK_GB,
    MAX_PORTS,
    RESERVED_PORTS,
    InstanceError,
    check_template_name,
    cuda_number,
    parse_image,
)
from core.errors import GrammarError
from core.grammar.values import IntWhat, _q, _small_int

_LISTING = re.compile(r"#(\d{1,9})", re.ASCII)
# image= keeps its case (tags may be upper case), so it is taken out before words are folded
_RAW_IMAGE = re.compile(r"(?:^|(?<=\s))(?:image|img)\s*=\s*(\S*)", re.IGNORECASE)
_UNIT = re.compile(r"(?:gb|g|gib)$")


def take_image(args: str) -> tuple[str, list[str]]:
    """``args`` without its image options, and their values as typed."""
    found = [m.group(1) for m in _RAW_IMAGE.finditer(args)]
    return _RAW_IMAGE.sub(" ", args), found


def take_listings(words: list[str]) -> tuple[list[str], list[int]]:
    """``words`` without listing numbers ("#17"), and the numbers."""
    rest, refs = [], []
    for word in words:
        m = _LISTING.fullmatch(word)
        if m and int(m.group(1)) > 0:
            refs.append(int(m.group(1)))
        else:
            rest.append(word)
    return rest, refs


def listing_ref(refs: list[int]) -> int | None:
    if len(refs) > 1:
        raise GrammarError.keyed(
            "grammar.two_listings",
            first=refs[0],
            second=refs[1],
        )
    return refs[0] if refs else None


def template_name(token: str) -> str:
    try:
        return check_template_name(token)
    except InstanceError:
        raise GrammarError.keyed(
            "grammar.not_template",
            token=_q(token),
        ) from None


def image_or_template(token: str) -> tuple[str | None, str | None]:
    """(template, image reference): a bare word names a template (``image=pytorch``);
    anything with a '/', ':', '.' or '@' is an image (``ghcr.io/me/train:v2``)."""
    if not any(ch in token for ch in "/:.@"):
        return template_name(token), None
    try:
        return None, parse_image(token).reference
    except InstanceError:
        raise GrammarError.keyed(
            "grammar.not_image",
            token=_q(token),
        ) from None


def ports(token: str) -> tuple[int, ...]:
    """``8080,6006`` -> (6006, 8080); 1 to 8 ports, each once, never 22 (the SSH port)."""
    parts = [p for p in token.split(",") if p]
    if not parts:
        raise GrammarError.keyed("grammar.ports_empty")
    if len(parts) > MAX_PORTS:
        raise GrammarError.keyed(
            "grammar.too_many_ports",
            max=MAX_PORTS,
            count=len(parts),
        )
    seen: list[int] = []
    for part in parts:
        if not part.isascii() or not part.isdigit() or not 1 <= int(part) <= 65535:
            raise GrammarError.keyed(
                "grammar.not_port",
                token=_q(part),
            )
        port = int(part)
        if port in RESERVED_PORTS:
            raise GrammarError.keyed(
                "grammar.port_ssh",
                port=port,
            )
        if port in seen:
            raise GrammarError.keyed("grammar.port_twice", port=port)
        seen.append(port)
    return tuple(sorted(seen))


def gigabytes(token: str, what: IntWhat, high: int = MAX_DISK_GB) -> int:
    """A size in GB ("200", "200gb"), 1 to ``high``."""
    return _small_int(_UNIT.sub("", token), 1, high, what)


def cores(token: str) -> int:
    return _small_int(token, 1, 4096, "number of CPU cores")


def cuda(token: str) -> int:
    number = cuda_number(token)
    if number is None:
        raise GrammarError.keyed(
            "grammar.not_cuda",
            token=_q(token),
        )
    return number
