"""The instance backend seam: what the executor asks of whatever runs rentals on this host.

Two backends implement it: :class:`~provider_agent.container_backend.ContainerBackend` (one
container per rental on the host's container engine; the only one offered to renters) and
:class:`~provider_agent.simulated_backend.SimulatedBackend` (``--simulate``: records instances,
nobody can log in, and every answer says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.wire import InstanceOffer, InstanceRequest
from provider_agent.errors import AccessError
from provider_agent.ssh_keys import PublicKey, check_rental_id, parse_public_key

MAX_RENTAL_SECONDS = 366 * 24 * 3600
# instances of the service's probes are named probe-<id>, apart from rentals (digits); a
# probe yields its GPUs to any rental's grant
PROBE_PREFIX = "probe-"


@dataclass(frozen=True, slots=True)
class AccessInfo:
    """What a renter needs to connect, and to verify the host before trusting it."""

    username: str
    host: str
    port: int
    host_key_fingerprint: str
    ports: tuple[tuple[int, int], ...] = ()  # (container port, host port)
    jupyter_port: int | None = None
    jupyter_token: str | None = field(default=None, repr=False)
    gpu_uuids: tuple[str, ...] = ()
    image: str | None = None


@dataclass(frozen=True, slots=True)
class GpuCheck:
    """How the self-test proves the instance sees exactly its GPUs: the command it runs over
    SSH and the function that reads its output (an error text, or None when it is right)."""

    command: str
    verify: object  # Callable[[str], str | None]; typed loosely to keep the dataclass frozen


class AccessBackend(Protocol):
    """Runs, extends and ends rentals' instances. Raises AccessError with operator text."""

    async def grant(
        self,
        rental_id: str,
        public_key: str,
        expires_at_epoch: int,
        instance: InstanceRequest | None = None,
    ) -> AccessInfo:
        """Start the rental's instance until ``expires_at_epoch``; for a rental whose
        instance already runs, move its deadline (``/extend``) and return the same access."""
        ...

    async def revoke(self, rental_id: str) -> None:
        """Stop the instance and end its sessions at once; idempotent."""
        ...

    async def cleanup(self, rental_id: str) -> None:
        """Revoke, then remove the instance with everything it wrote; idempotent."""
        ...

    async def active(self) -> set[str]:
        """Rental ids whose instance exists on this host."""
        ...

    async def enforce(self) -> set[str]:
        """Remove instances past their paid-until time; the rental ids removed."""
        ...

    def offer(self) -> InstanceOffer | None:
        """What this host offers renters (heartbeat), None when it offers no choice."""
        ...

    def gpu_check(self, rental_id: str) -> GpuCheck | None:
        """The self-test's GPU check for a granted rental, None to run the default one."""
        ...

    async def selftest_done(self, rental_id: str) -> None:
        """The self-test finished: take the agent's probe key out of the instance."""
        ...


def check_expiry(expires_at_epoch: object, now: float) -> int:
    """Return the expiry if it is an int in (now, now + 366 days], else raise AccessError."""
    if isinstance(expires_at_epoch, bool) or not isinstance(expires_at_epoch, int):
        raise AccessError("expires_at_epoch must be an integer number of seconds")
    if expires_at_epoch <= now:
        raise AccessError("the paid-until time is already in the past")
    if expires_at_epoch > now + MAX_RENTAL_SECONDS:
        raise AccessError("the paid-until time is more than a year ahead")
    return expires_at_epoch


def checked_grant(
    rental_id: object, public_key: object, expires_at_epoch: object, now: float
) -> tuple[str, PublicKey, int]:
    """A grant's rental id, key and expiry as every backend checks them before it changes
    anything; raises the agent's access errors."""
    return (
        check_rental_id(rental_id),
        parse_public_key(public_key),
        check_expiry(expires_at_epoch, now),
    )
