"""Messages between provider agents and the service (pydantic), shared by both ends.

Everything an agent sends is validated here first: bounded sizes, no extra fields, sane
ranges. A payload that fails validation is answered with a 4xx and stores nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_GPUS = 16
ShortText = Annotated[str, StringConstraints(max_length=128, strip_whitespace=True)]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^SHA256:[A-Za-z0-9+/=]{20,64}$")]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.\-:\[\]]{1,255}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuInfo(_Strict):
    """One GPU as NVML reports it; None where the GPU does not support the field."""

    index: int = Field(ge=0, lt=64)
    uuid: ShortText
    name: ShortText
    vram_total_mib: int | None = Field(default=None, ge=0, le=4_000_000)
    vram_used_mib: int | None = Field(default=None, ge=0, le=4_000_000)
    utilization_pct: int | None = Field(default=None, ge=0, le=100)
    temperature_c: int | None = Field(default=None, ge=-50, le=200)
    power_w: int | None = Field(default=None, ge=0, le=10_000)
    ecc_errors: int | None = Field(default=None, ge=0)
    process_count: int | None = Field(default=None, ge=0, le=100_000)
    lost: bool = False


class Heartbeat(_Strict):
    agent_version: ShortText
    seq: int = Field(ge=0)
    sent_at: int = Field(ge=0)
    gpus: list[GpuInfo] = Field(max_length=MAX_GPUS)
    driver_version: ShortText | None = None
    cuda_version: ShortText | None = None
    ssh_host: Host | None = None
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    host_key_fingerprint: Fingerprint | None = None


class HeartbeatAck(_Strict):
    machine_id: int
    status: str
    next_in_s: int
