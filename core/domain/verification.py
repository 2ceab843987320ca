"""Verified means checked by us: the rules of the service's own probe of a provider machine.

What an agent reports (NVML names, UUIDs, host keys, self-tests) is a claim. A machine is
*verified* only while a probe of the service passed: the service had the agent start a
short-lived instance on idle GPUs with the service's own SSH key, logged in to the host the
machine advertises, found the host key the agent reported for that instance, and saw exactly
the probed GPUs by UUID (``nvidia-smi`` inside the instance; without it nothing is verified).
A pass holds for :data:`VERIFIED_FOR_S`; the service probes again after
:data:`REPROBE_AFTER_S`, and at once when the machine's endpoint or GPUs change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPROBE_AFTER_S = 6 * 3600  # a verified machine is probed again this long after its pass
VERIFIED_FOR_S = 7 * 3600  # a pass is worth this long (an hour to run the next probe)
PROBE_ANSWER_S = 5 * 60  # the agent must start the probe instance within this
PROBE_INSTANCE_S = 10 * 60  # the probe instance's own deadline (the agent removes it then)
PROBE_RETRY_S = 15 * 60  # an unverified machine whose probe could not finish: next try
MAX_PROBE_REASON = 300

# the evidence kind of the service's probes: agents cannot send it (core.wire.Evidence)
SERVICE_PROBE = "service_probe"

GPU_QUERY = "nvidia-smi --query-gpu=uuid --format=csv,noheader"
COMMAND_NOT_FOUND = 127
_UUID_LINE = re.compile(r"^GPU-[A-Za-z0-9-]{1,92}$")


class ProbeStatus:
    PENDING = "pending"  # queued for the agent
    ANSWERED = "answered"  # the agent started the instance; the service logs in next
    PASSED = "passed"
    FAILED = "failed"
    YIELDED = "yielded"  # a rental took the probed GPUs meanwhile: neither pass nor fail
    # the login worked with the right host key, but the instance has no nvidia-smi to show
    # its GPUs (plain device nodes, no NVIDIA runtime or CDI): not verified, not a failure
    UNCHECKED = "unchecked"


OPEN_STATUSES = (ProbeStatus.PENDING, ProbeStatus.ANSWERED)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the machine says renters connect (its heartbeat's SSH host, port, host key)."""

    host: str | None
    port: int | None
    host_key_fingerprint: str | None


@dataclass(frozen=True, slots=True)
class Verification:
    """What a passed probe verified: the endpoint at the time and the GPUs seen by UUID."""

    endpoint: Endpoint
    gpu_uuids: frozenset[str]


def verified_gpus(
    verification: Verification | None, verified_until: int | None, endpoint: Endpoint, now: int
) -> frozenset[str]:
    """The GPUs that count as verified now: none once the pass expired or the machine's
    endpoint (host, port, host key) differs from the one probed."""
    if verification is None or verified_until is None or verified_until <= now:
        return frozenset()
    if verification.endpoint != endpoint:
        return frozenset()
    return verification.gpu_uuids


@dataclass(frozen=True, slots=True)
class ProbeLogin:
    """What the service's own SSH login into the probe instance showed.

    ``host_key_fingerprint`` is the key the server presented (None: no SSH handshake);
    ``exit_status`` and ``output`` are those of :data:`GPU_QUERY`; ``error`` says why the
    login or the command did not happen."""

    host_key_fingerprint: str | None
    exit_status: int | None = None
    output: str = ""
    error: str | None = None


def seen_uuids(output: str) -> set[str]:
    """GPU UUIDs in ``nvidia-smi --query-gpu=uuid --format=csv,noheader`` output."""
    return {line.strip() for line in output.splitlines() if _UUID_LINE.match(line.strip())}


def judge_login(pinned: str, probed: list[str], login: ProbeLogin) -> str | None:
    """None when the login proves the probe, else why it does not: the server's host key
    must be the fingerprint the agent reported, and ``nvidia-smi`` inside must list exactly
    the probed GPUs (absent or failing ``nvidia-smi``: nothing is verified)."""
    if login.host_key_fingerprint is not None and login.host_key_fingerprint != pinned:
        return (
            f"host key mismatch: the agent reported {pinned}, "
            f"the server presented {login.host_key_fingerprint}"
        )
    if login.error is not None:
        return f"the service could not log in: {login.error}"
    if login.exit_status == COMMAND_NOT_FOUND:
        return "nvidia-smi is not in the instance: its GPUs cannot be checked"
    if login.exit_status != 0:
        return f"nvidia-smi failed in the instance (exit {login.exit_status})"
    seen = seen_uuids(login.output)
    if seen != set(probed):
        return f"the instance shows GPUs {sorted(seen) or 'none'}, probed {sorted(probed)}"
    return None


def gpus_unreadable(pinned: str, login: ProbeLogin) -> bool:
    """The right host answered, but without ``nvidia-smi``: the GPUs cannot be checked."""
    return (
        login.error is None
        and login.host_key_fingerprint == pinned
        and login.exit_status == COMMAND_NOT_FOUND
    )


def bounded(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= MAX_PROBE_REASON else reason[: MAX_PROBE_REASON - 1] + "…"
