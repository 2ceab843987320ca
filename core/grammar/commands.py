"""The commands the grammar produces: frozen dataclasses, one per chat command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.domain.listings import SORTS as LISTING_SORTS

MAX_INPUT_CHARS = 1000
MAX_SSHKEY_INPUT_CHARS = 4096  # an 8192-bit RSA public key alone is about 1,400 characters
MAX_GPUS_PER_RENTAL = 16  # core.wire.MAX_GPUS: the most an instance request names
MAX_FREE_TEXT_CHARS = 500  # dispute reasons and rating comments
SORTS = tuple(s for s in LISTING_SORTS if s != "best")  # "best" is the quote's own order


@dataclass(frozen=True)
class Command:
    """A parsed chat command; ``name`` is its canonical name without the slash."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Start(Command):
    name: ClassVar[str] = "start"


@dataclass(frozen=True)
class Help(Command):
    name: ClassVar[str] = "help"
    topic: str | None = None  # a canonical command name


@dataclass(frozen=True)
class GpuFilters:
    model: str | None = None  # canonical GPU key
    min_vram_gb: int | None = None
    max_vram_gb: int | None = None  # with min_vram_gb: vram=24 is exactly 24 GB
    max_price_per_hour: int | None = None  # micro-USDC
    region: str | None = None
    min_reliability: int | None = None  # percent, 0..100
    verified_only: bool = False
    # what one GPU's share of the machine gives at least, and the machine's CUDA version
    min_ram_gb: int | None = None
    min_disk_gb: int | None = None
    min_cpu_cores: int | None = None
    min_cuda: int | None = None  # core.domain.instances.cuda_number: 12.4 -> 1204


@dataclass(frozen=True)
class Gpus(Command):
    name: ClassVar[str] = "gpus"
    filters: GpuFilters = GpuFilters()
    sort: str = "price"
    page: int = 1


@dataclass(frozen=True)
class RentArgs(Command):
    """``/rent 2x h100 3h``, ``/rent #17 3h template=jupyter ports=8888,6006 disk=200``."""

    name: ClassVar[str] = "rent"
    model: str | None  # canonical GPU key (None: the listing named by ``listing``)
    duration_s: int
    max_price_per_hour: int | None = None  # micro-USDC
    region: str | None = None
    count: int = 1
    listing: int | None = None  # a listing number from /gpus ("#17")
    template: str | None = None  # a template name (core.domain.instances.TEMPLATE_NAME)
    image: str | None = None  # a custom image, fully qualified (ImageRef.reference)
    ports: tuple[int, ...] = ()  # container ports to publish (check_ports)
    disk_gb: int | None = None  # at least this much disk


@dataclass(frozen=True)
class Templates(Command):
    """``/templates``, ``/templates 4090``, ``/templates #17``."""

    name: ClassVar[str] = "templates"
    model: str | None = None
    listing: int | None = None


@dataclass(frozen=True)
class Status(Command):
    name: ClassVar[str] = "status"
    rental_ref: str | None = None


@dataclass(frozen=True)
class Extend(Command):
    name: ClassVar[str] = "extend"
    duration_s: int
    rental_ref: str | None = None


@dataclass(frozen=True)
class Stop(Command):
    name: ClassVar[str] = "stop"
    rental_ref: str | None = None


@dataclass(frozen=True)
class Receipts(Command):
    name: ClassVar[str] = "receipts"
    export_csv: bool = False


@dataclass(frozen=True)
class Dispute(Command):
    name: ClassVar[str] = "dispute"
    rental_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Rate(Command):
    name: ClassVar[str] = "rate"
    rental_ref: str | None
    stars: int
    comment: str | None = None


@dataclass(frozen=True)
class Connect(Command):
    name: ClassVar[str] = "connect"
    action: str | None = None  # None (link a wallet), "switch" or "disconnect"


@dataclass(frozen=True)
class SshKey(Command):
    name: ClassVar[str] = "sshkey"
    public_key: str | None = None  # one validated OpenSSH line: "<type> <base64> [comment]"


@dataclass(frozen=True)
class Lang(Command):
    name: ClassVar[str] = "lang"
    lang: str | None = None  # "en" or "de"


@dataclass(frozen=True)
class Register(Command):
    name: ClassVar[str] = "register"
    payout_address: str | None = None  # "0x" + 40 lowercase hex digits


@dataclass(frozen=True)
class AddMachine(Command):
    name: ClassVar[str] = "addmachine"
    machine: str
    region: str | None = None


@dataclass(frozen=True)
class Machines(Command):
    name: ClassVar[str] = "machines"


@dataclass(frozen=True)
class Price(Command):
    name: ClassVar[str] = "price"
    machine: str
    price_per_hour: int  # micro-USDC per GPU-hour
    model: str | None = None  # canonical GPU key
    confirmed: bool = False  # "confirm" typed (or pressed): an implausible price is meant


@dataclass(frozen=True)
class Pause(Command):
    name: ClassVar[str] = "pause"
    machine: str | None = None


@dataclass(frozen=True)
class Resume(Command):
    name: ClassVar[str] = "resume"
    machine: str | None = None


@dataclass(frozen=True)
class Earnings(Command):
    name: ClassVar[str] = "earnings"


@dataclass(frozen=True)
class Cancel(Command):
    """``/cancel``: end the question the bot asked (and the quote it was about)."""

    name: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class RemoveMachine(Command):
    name: ClassVar[str] = "removemachine"
    machine: str
    confirmed: bool = False  # "confirm" typed (or pressed): the machine is really to go


@dataclass(frozen=True)
class RotateToken(Command):
    name: ClassVar[str] = "rotatetoken"
    machine: str


COMMANDS: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (Start, Help, Gpus, RentArgs, Templates, Status, Extend, Stop, Receipts)
    + (Dispute, Rate, Connect, SshKey, Lang, Register, AddMachine, Machines, Price, Pause)
    + (Resume, Earnings, Cancel, RemoveMachine, RotateToken)
}
