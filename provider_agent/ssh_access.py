"""Per-rental SSH access on a real OpenSSH server: the backend protocol and the shared-account mode.

Every rental gets authorized_keys lines ``restrict,pty,expiry-time="YYYYMMDDHHMMSSZ" <key>
rigshare:<rental_id>`` (plus an optional ``restrict`` probe line tagged ``...:probe`` for the
self-test), so sshd refuses the key after the paid-until time even if the agent is dead.
The per-rental-accounts mode lives in :mod:`provider_agent.ssh_accounts`.
"""

from __future__ import annotations

import asyncio
import calendar
import fcntl
import os
import pwd
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from provider_agent import ssh_sessions
from provider_agent.errors import AccessError
from provider_agent.ssh_keys import (
    TAG_PREFIX,
    PublicKey,
    authorized_line,
    check_rental_id,
    host_key_fingerprint,
    line_blob,
    line_tag,
    parse_public_key,
)

MAX_RENTAL_SECONDS = 366 * 24 * 3600
_EXPIRY = re.compile(r'expiry-time="(\d{14})Z"')
_REVOKE_SETTLE_S = 0.25  # second sweep catches a login that was mid-setup at revoke time


@dataclass(frozen=True, slots=True)
class AccessInfo:
    """What a renter needs to connect, and to verify the host before trusting it."""

    username: str
    host: str
    port: int
    host_key_fingerprint: str


class AccessBackend(Protocol):
    """Grants and takes away SSH access per rental."""

    async def grant(self, rental_id: str, public_key: str, expires_at_epoch: int) -> AccessInfo:
        """Install the key until ``expires_at_epoch``; idempotent per rental (replaces)."""
        ...

    async def revoke(self, rental_id: str) -> None:
        """Remove the key and end the rental's open sessions; idempotent."""
        ...

    async def cleanup(self, rental_id: str) -> None:
        """Revoke, then remove whatever the rental left behind; idempotent."""
        ...

    async def active(self) -> set[str]:
        """Rental ids whose key is currently installed."""
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


def rental_lines(
    rental_id: str, key: PublicKey, expires_at: int, probe: PublicKey | None
) -> list[str]:
    tag = f"{TAG_PREFIX}{rental_id}"
    lines = [authorized_line(key, tag, expires_at, pty=True)]
    if probe is not None:
        lines.append(authorized_line(probe, f"{tag}:probe", expires_at, pty=False))
    return lines


def rental_of_line(line: str) -> tuple[str, bool] | None:
    """``(rental_id, is_probe)`` for one of our lines, None for any other line."""
    tag = line_tag(line)
    if tag is None:
        return None
    rest = tag[len(TAG_PREFIX) :]
    rental_id, _, kind = rest.partition(":")
    return rental_id, kind == "probe"


def line_expiry(line: str) -> int | None:
    match = _EXPIRY.search(line)
    if match is None:
        return None
    return calendar.timegm(time.strptime(match[1], "%Y%m%d%H%M%S"))


def write_atomic(path: Path, text: str, mode: int, owner: tuple[int, int] | None) -> None:
    """Write via temp file + fsync + rename, so sshd never reads a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def blobs_of(lines: Iterable[str]) -> set[str]:
    return {blob for blob in map(line_blob, lines) if blob}


class SharedAccount:
    """All rentals share one existing unix account; one tagged key line per rental.

    For development, tests and hosts where the agent is not root: renters are not isolated from
    each other on the host. Run the agent as that account (or root) so it can rewrite the
    authorized_keys file (mode 600) and signal the account's processes. sshd needs
    ``ExposeAuthInfo yes`` for revoke to find a rental's open sessions.
    Raises AccessError (unknown account, bad expiry), InvalidPublicKey, InvalidRentalId.
    """

    def __init__(
        self,
        username: str,
        *,
        host: str,
        port: int = 22,
        host_key: str | os.PathLike[str],
        authorized_keys: str | os.PathLike[str] | None = None,
        probe_public_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self._pw = pwd.getpwnam(username)
        except KeyError as exc:
            raise AccessError(f"unix account {username!r} does not exist") from exc
        default = Path(self._pw.pw_dir, ".ssh", "authorized_keys")
        self._path = Path(authorized_keys) if authorized_keys else default
        self._lock_path = self._path.with_name(f".{self._path.name}.rigshare.lock")
        self._info = AccessInfo(username, host, port, host_key_fingerprint(host_key))
        self._probe = parse_public_key(probe_public_key) if probe_public_key else None
        self._clock = clock
        self._lock = asyncio.Lock()

    @property
    def authorized_keys(self) -> Path:
        return self._path

    async def grant(self, rental_id: str, public_key: str, expires_at_epoch: int) -> AccessInfo:
        rental_id = check_rental_id(rental_id)
        key = parse_public_key(public_key)
        expires_at = check_expiry(expires_at_epoch, self._clock())
        lines = rental_lines(rental_id, key, expires_at, self._probe)
        async with self._lock:
            await asyncio.to_thread(self._edit, rental_id, lines)
        return self._info

    async def revoke(self, rental_id: str) -> None:
        rental_id = check_rental_id(rental_id)
        async with self._lock:
            removed, kept = await asyncio.to_thread(self._edit, rental_id, [])
        # A key still granted to another rental keeps its sessions: they are that rental's too.
        blobs = blobs_of(removed) - blobs_of(kept)
        if not blobs:
            return
        uid = self._pw.pw_uid
        await asyncio.to_thread(ssh_sessions.kill_sessions_by_key, uid, blobs)
        await asyncio.sleep(_REVOKE_SETTLE_S)
        await asyncio.to_thread(ssh_sessions.kill_sessions_by_key, uid, blobs)

    async def cleanup(self, rental_id: str) -> None:
        await self.revoke(rental_id)

    async def active(self) -> set[str]:
        lines = await asyncio.to_thread(read_lines, self._path)
        return {parsed[0] for parsed in map(rental_of_line, lines) if parsed and not parsed[1]}

    async def enforce(self) -> set[str]:
        """Revoke every rental whose expiry has passed (closing sessions sshd keeps open)."""
        lines = await asyncio.to_thread(read_lines, self._path)
        now = self._clock()
        expired = set()
        for line in lines:
            parsed, expiry = rental_of_line(line), line_expiry(line)
            if parsed and expiry is not None and expiry < now:
                expired.add(parsed[0])
        for rental_id in expired:
            await self.revoke(rental_id)
        return expired

    def _edit(self, rental_id: str, new_lines: list[str]) -> tuple[list[str], list[str]]:
        """Replace the rental's lines under an exclusive file lock; returns (removed, kept)."""
        owner = (self._pw.pw_uid, self._pw.pw_gid) if os.geteuid() == 0 else None
        if not self._path.parent.exists():
            self._path.parent.mkdir(mode=0o700, parents=True)
            if owner is not None:
                os.chown(self._path.parent, *owner)
        with open(self._lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            removed, kept = [], []
            for line in read_lines(self._path):
                parsed = rental_of_line(line)
                (removed if parsed and parsed[0] == rental_id else kept).append(line)
            if removed or new_lines:
                text = "".join(f"{line}\n" for line in [*kept, *new_lines])
                write_atomic(self._path, text, 0o600, owner)
            return removed, kept
