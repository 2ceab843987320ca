"""Messages between provider agents and the service (pydantic), shared by both ends.

Everything an agent sends is validated here first: bounded sizes, no extra fields, sane
ranges. A payload that fails validation is answered with a 4xx and stores nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from core.domain.limits import (
    EPOCH_MAX,
    INT32_MAX,
    INT64_MAX,
    MAX_AGENT_VERSION,
    MAX_CPU_MODEL,
    MAX_CUDA_VERSION,
    MAX_DRIVER_VERSION,
    MAX_GPU_NAME,
    MAX_GPU_UUID,
    MAX_HOST,
    MAX_IMAGE_REF,
    MAX_JUPYTER_TOKEN,
    MAX_TEMPLATE_NAME,
    MAX_TEMPLATE_TITLE,
    MAX_USERNAME,
)

MAX_GPUS = 16
MAX_COMMANDS = 100  # per long-poll answer
MAX_RESULTS = 32  # per results post
MAX_EVIDENCE = 16  # per result, and per results post outside a result
MAX_EVIDENCE_TEXT = 4000
MAX_PUBLIC_KEY = 8192

# C0/C1 controls and the bidirectional overrides and isolates: a name shown to renters in chat
# must read as what it is (no line breaks, no text that renders right-to-left to disguise it)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _refuse_unprintable(text: str) -> str:
    if _UNPRINTABLE.search(text):
        raise ValueError("control or text-direction characters are not allowed")
    return text


def printable(text: str, limit: int) -> str:
    """What an agent sends of a measured text (an NVML name, /proc/cpuinfo): unprintable
    characters become spaces, cut to ``limit`` so that it passes the ``*Label`` types below."""
    return " ".join(_UNPRINTABLE.sub(" ", text).split())[:limit]


def _line(limit: int) -> StringConstraints:
    return StringConstraints(max_length=limit, strip_whitespace=True)


_PRINTABLE = AfterValidator(_refuse_unprintable)

# One line of printable text of at most a column's width each: named aliases rather than a
# function called in the annotation, which a type checker cannot read as a type
GpuUuidLabel = Annotated[str, _line(MAX_GPU_UUID), _PRINTABLE]
GpuNameLabel = Annotated[str, _line(MAX_GPU_NAME), _PRINTABLE]
CpuModelLabel = Annotated[str, _line(MAX_CPU_MODEL), _PRINTABLE]
TemplateTitleLabel = Annotated[str, _line(MAX_TEMPLATE_TITLE), _PRINTABLE]
AgentVersionLabel = Annotated[str, _line(MAX_AGENT_VERSION), _PRINTABLE]
DriverVersionLabel = Annotated[str, _line(MAX_DRIVER_VERSION), _PRINTABLE]
CudaVersionLabel = Annotated[str, _line(MAX_CUDA_VERSION), _PRINTABLE]

Fingerprint = Annotated[str, StringConstraints(pattern=r"^SHA256:[A-Za-z0-9+/=]{20,64}$")]
Host = Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9.\-:\[\]]{{1,{MAX_HOST}}}$")]
Username = Annotated[str, StringConstraints(pattern=rf"^[a-z_][a-z0-9_-]{{0,{MAX_USERNAME - 1}}}$")]
# one OpenSSH public key line; the agent parses the key itself before writing anything
PublicKeyLine = Annotated[
    str, StringConstraints(min_length=16, max_length=MAX_PUBLIC_KEY, pattern=r"^[^\x00-\x1f\x7f]+$")
]
TemplateName = Annotated[
    str, StringConstraints(pattern=rf"^[a-z0-9][a-z0-9-]{{0,{MAX_TEMPLATE_NAME - 1}}}$")
]
# an image reference (core.domain.instances.parse_image checks it fully on both ends)
ImageText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_IMAGE_REF, pattern=r"^[A-Za-z0-9._:/@-]+$"),
]
RegistryHost = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")]
GpuUuid = Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9_.:-]{{1,{MAX_GPU_UUID}}}$")]
EvidenceKey = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,31}$")]
EvidenceText = Annotated[str, StringConstraints(max_length=MAX_EVIDENCE_TEXT)]
EvidenceValue = (
    bool
    | Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | EvidenceText
    | None
)
Epoch = Annotated[int, Field(ge=0, le=EPOCH_MAX)]
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]  # a row id (an Integer column)
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]  # a counter kept inside JSON text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuInfo(_Strict):
    """One GPU as NVML reports it; None where the GPU does not support the field."""

    index: int = Field(ge=0, lt=64)
    uuid: GpuUuidLabel  # checked against GpuUuid by the service, with a clearer reason
    name: GpuNameLabel
    vram_total_mib: int | None = Field(default=None, ge=0, le=4_000_000)
    vram_used_mib: int | None = Field(default=None, ge=0, le=4_000_000)
    utilization_pct: int | None = Field(default=None, ge=0, le=100)
    temperature_c: int | None = Field(default=None, ge=-50, le=200)
    power_w: int | None = Field(default=None, ge=0, le=10_000)
    ecc_errors: int | None = Field(default=None, ge=0, le=INT64_MAX)
    process_count: int | None = Field(default=None, ge=0, le=100_000)
    lost: bool = False
    pcie_gen: int | None = Field(default=None, ge=1, le=16)  # current link generation
    pcie_width: int | None = Field(default=None, ge=1, le=64)  # current link width (lanes)


class MachineSpecs(_Strict):
    """The host around the GPUs, as the agent measured it; None where it could not."""

    cpu_model: CpuModelLabel | None = None
    cpu_cores: int | None = Field(default=None, ge=1, le=4096)
    ram_mib: int | None = Field(default=None, ge=0, le=64 * 1024 * 1024)
    disk_free_gib: int | None = Field(default=None, ge=0, le=1_000_000)  # for instances
    net_down_mbps: int | None = Field(default=None, ge=0, le=1_000_000)
    net_up_mbps: int | None = Field(default=None, ge=0, le=1_000_000)


class TemplateInfo(_Strict):
    """One image a provider offers renters (``/templates``)."""

    name: TemplateName
    image: ImageText
    title: TemplateTitleLabel
    jupyter: bool = False


class InstanceOffer(_Strict):
    """What the host runs rentals as, and which images renters may choose."""

    backend: Literal["container", "simulated"]
    templates: list[TemplateInfo] = Field(default_factory=list, max_length=32)
    default_template: TemplateName | None = None
    custom_images: bool = False  # any image from allowed_registries, not only templates
    allowed_registries: list[RegistryHost] = Field(default_factory=list, max_length=16)
    max_ports: int = Field(default=0, ge=0, le=8)
    # the agent runs the service's probes (commands ``probe``/``unprobe``); older agents
    # leave it out and are never sent one (they would refuse the whole command batch)
    probes: bool = False


class Heartbeat(_Strict):
    agent_version: AgentVersionLabel
    seq: Count
    sent_at: Epoch
    gpus: list[GpuInfo] = Field(max_length=MAX_GPUS)
    driver_version: DriverVersionLabel | None = None
    cuda_version: CudaVersionLabel | None = None
    ssh_host: Host | None = None
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    host_key_fingerprint: Fingerprint | None = None
    machine: MachineSpecs | None = None
    offer: InstanceOffer | None = None
    # seconds this beat waited in the agent's buffer (network outage); 0 for a fresh beat
    queued_s: int = Field(default=0, ge=0, le=30 * 86_400)


class HeartbeatAck(_Strict):
    machine_id: int
    status: str
    next_in_s: int


# -- command channel: the service queues, the agent long-polls and answers ------------------


class InstanceLimits(_Strict):
    """An instance's limits (the rented share of the machine, core.domain.instances)."""

    cpu_millis: int = Field(ge=100, le=4_096_000)
    memory_mib: int = Field(ge=64, le=64 * 1024 * 1024)
    disk_gib: int = Field(ge=1, le=1_000_000)
    shm_mib: int = Field(ge=1, le=64 * 1024 * 1024)
    pids: int = Field(ge=64, le=4_194_304)


class InstanceRequest(_Strict):
    """What a grant runs: the image, exactly these GPUs, published ports and limits."""

    image: ImageText
    template: TemplateName | None = None
    gpu_uuids: list[GpuUuid] = Field(min_length=1, max_length=MAX_GPUS)
    ports: list[int] = Field(default_factory=list, max_length=8)
    limits: InstanceLimits
    jupyter: bool = False


class AgentCommand(_Strict):
    """Grant or revoke one rental's instance (a grant again with a later expiry extends it),
    or start (``probe``) and remove (``unprobe``) a short-lived instance on idle GPUs that the
    service logs into with its own key to verify the machine; for those two, ``rental_id``
    is the probe's id (the agent names the instance ``probe-<id>``, apart from rentals).

    ``seq`` grows by one per machine, so the agent runs commands in order and skips what it
    has seen; ``valid_until`` makes a command that was not run in time stale (the agent
    answers it without acting). ``expires_at`` is when the granted key stops working.
    """

    id: Id
    seq: Id
    kind: Literal["grant", "revoke", "probe", "unprobe"]
    rental_id: Id
    public_key: PublicKeyLine | None = None
    expires_at: Epoch | None = None
    instance: InstanceRequest | None = None  # None: SSH access only (older services)
    issued_at: Epoch
    valid_until: Epoch


class CommandBatch(_Strict):
    commands: list[AgentCommand] = Field(max_length=MAX_COMMANDS)
    server_time: Epoch


class PortMapping(_Strict):
    """A container port the renter asked for and the host port it is published on."""

    container_port: int = Field(ge=1, le=65535)
    host_port: int = Field(ge=1, le=65535)


class AccessDetails(_Strict):
    """What the renter needs to connect, and to check the host key before trusting it."""

    username: Username
    host: Host
    port: int = Field(ge=1, le=65535)
    host_key_fingerprint: Fingerprint
    ports: list[PortMapping] = Field(default_factory=list, max_length=8)
    # JupyterLab inside the instance, reached through an SSH tunnel to its port
    jupyter_port: int | None = Field(default=None, ge=1, le=65535)
    jupyter_token: (
        Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9_-]{{16,{MAX_JUPYTER_TOKEN}}}$")]
        | None
    ) = None
    gpu_uuids: list[GpuUuid] = Field(default_factory=list, max_length=MAX_GPUS)
    image: ImageText | None = None


class _EvidenceData(BaseModel):
    """The fields of one kind of evidence that the service reads, typed and bounded (strict:
    a time is a number, never a string). Other keys stay bounded by ``Evidence.data``."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class SelftestData(_EvidenceData):
    """The agent's probe login into a rental it just granted (provider_agent.selftest)."""

    success: bool
    host_key_ok: bool | None = None
    latency_ms: int | None = Field(default=None, ge=0, le=INT32_MAX)
    exit_status: int | None = Field(default=None, ge=-INT32_MAX - 1, le=INT32_MAX)
    port: int | None = Field(default=None, ge=1, le=65535)
    started_at: float | None = Field(default=None, ge=0, le=EPOCH_MAX, allow_inf_nan=False)
    finished_at: float | None = Field(default=None, ge=0, le=EPOCH_MAX, allow_inf_nan=False)
    username: EvidenceText | None = None
    host: EvidenceText | None = None
    command: EvidenceText | None = None
    output_head: EvidenceText | None = None
    error: EvidenceText | None = None


class HeartbeatGapData(_EvidenceData):
    """An agent's own account of beats it had to buffer (what the service records for a late
    beat). Gaps the service saw itself (``source: service``) are the service's to record."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    source: Literal["agent"]
    sent_at: Epoch
    queued_s: int = Field(default=0, ge=0, le=30 * 86_400)
    seq: Count | None = None
    gpus: int = Field(default=0, ge=0, le=MAX_GPUS)
    gpus_lost: int = Field(default=0, ge=0, le=MAX_GPUS)


class SshLogData(_EvidenceData):
    """sshd log lines about the rental's logins."""

    lines: EvidenceText | None = None


EVIDENCE_DATA: dict[str, type[_EvidenceData]] = {
    "selftest": SelftestData,
    "heartbeat_gap": HeartbeatGapData,
    "ssh_log": SshLogData,
}


class Evidence(_Strict):
    """One objective record for disputes: a self-test login, a heartbeat gap, sshd log lines.

    ``rental_id`` may be left out inside a command result (it is the command's rental).
    ``data`` must hold what its kind says (``EVIDENCE_DATA``): a record the arbiter could not
    read is refused here, not found later in the middle of deciding a dispute.
    """

    kind: Literal["selftest", "heartbeat_gap", "ssh_log"]
    at: Epoch
    rental_id: Id | None = None
    data: dict[EvidenceKey, EvidenceValue] = Field(default_factory=dict, max_length=32)

    @model_validator(mode="after")
    def _data_fits_its_kind(self) -> Evidence:
        try:
            EVIDENCE_DATA[self.kind].model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{self.kind} data.{where}: {first['msg']}") from None
        return self


class CommandResult(_Strict):
    command_id: Id
    ok: bool
    access: AccessDetails | None = None  # required for a successful grant
    error: Annotated[str, StringConstraints(max_length=500)] | None = None
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)


class ResultBatch(_Strict):
    results: list[CommandResult] = Field(default_factory=list, max_length=MAX_RESULTS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)


class ResultAck(_Strict):
    """Command ids applied now, and those ignored (unknown, another machine's, replayed)."""

    accepted: list[int]
    ignored: list[int]
    evidence_stored: int
