"""Per-rental unix accounts (``rs-<rental>``), the production SSH access mode. Needs root.

The account's keys live in ``<keys_dir>/<user>``, owned root:<user's group> with mode 0640,
so the renter can read but never edit them (and so cannot outlive ``expiry-time``); sshd must
look there (see :meth:`PerRentalAccounts.sshd_config_snippet`). Accounts also carry a shadow
expiry date one day after the paid-until time, and are expired on revoke, as a second lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provider_agent import ssh_sessions
from provider_agent.errors import AccessError
from provider_agent.ssh_access import (
    AccessInfo,
    check_expiry,
    line_expiry,
    read_lines,
    rental_lines,
    write_atomic,
)
from provider_agent.ssh_keys import (
    check_rental_id,
    host_key_fingerprint,
    parse_public_key,
)

GECOS_PREFIX = "rigshare rental "  # passwd fields cannot hold ':'
_SIMPLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    if done.returncode != 0:
        raise AccessError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[:300]}")


class PerRentalAccounts:
    """One unix account per rental: grant creates it, revoke locks it and kills everything it
    runs, cleanup deletes it with its home and scratch files.

    Raises AccessError (not root, account not ours, useradd/userdel failure, bad expiry),
    InvalidPublicKey and InvalidRentalId.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 22,
        host_key: str | os.PathLike[str],
        keys_dir: str | os.PathLike[str] = "/etc/ssh/rigshare",
        home_root: str | os.PathLike[str] = "/home",
        prefix: str = "rs-",
        shell: str = "/bin/bash",
        extra_groups: Sequence[str] = (),
        probe_public_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if os.geteuid() != 0:
            raise AccessError("per-rental accounts need root; run as root or use SharedAccount")
        self._host, self._port = host, port
        self._fingerprint = host_key_fingerprint(host_key)
        self._keys_dir, self._home_root = Path(keys_dir), Path(home_root)
        self._prefix, self._shell, self._groups = prefix, shell, tuple(extra_groups)
        self._probe = parse_public_key(probe_public_key) if probe_public_key else None
        self._clock = clock
        self._lock = asyncio.Lock()  # useradd/userdel must not race on /etc/passwd

    def username_for(self, rental_id: str) -> str:
        """``rs-<id>`` when that is a valid short unix name, else ``rs-<hash of id>``."""
        rental_id = check_rental_id(rental_id)
        name = self._prefix + rental_id
        if _SIMPLE_NAME.match(rental_id) and len(name) <= 32:
            return name
        return self._prefix + hashlib.sha256(rental_id.encode()).hexdigest()[:16]

    def sshd_config_snippet(self) -> str:
        """Lines to append to sshd_config so sshd reads the agent-owned keys."""
        return (
            f"Match User {self._prefix}*\n"
            f"    AuthorizedKeysFile {self._keys_dir}/%u\n"
            "    ExposeAuthInfo yes\n"
            "    PasswordAuthentication no\n"
            "    KbdInteractiveAuthentication no\n"
            "    DisableForwarding yes\n"
        )

    async def grant(self, rental_id: str, public_key: str, expires_at_epoch: int) -> AccessInfo:
        username = self.username_for(rental_id)
        key = parse_public_key(public_key)
        expires_at = check_expiry(expires_at_epoch, self._clock())
        lines = rental_lines(rental_id, key, expires_at, self._probe)
        async with self._lock:
            await asyncio.to_thread(self._grant, rental_id, username, lines, expires_at)
        return AccessInfo(username, self._host, self._port, self._fingerprint)

    async def revoke(self, rental_id: str) -> None:
        username = self.username_for(rental_id)
        async with self._lock:
            await asyncio.to_thread(self._revoke, rental_id, username)

    async def cleanup(self, rental_id: str) -> None:
        username = self.username_for(rental_id)
        async with self._lock:
            await asyncio.to_thread(self._cleanup, rental_id, username)

    async def active(self) -> set[str]:
        accounts = await asyncio.to_thread(self._accounts)
        return {rid for rid, pw in accounts.items() if self._keys_file(pw.pw_name).exists()}

    async def accounts(self) -> set[str]:
        """Rental ids that still have an account (granted or revoked, not yet cleaned up)."""
        return set(await asyncio.to_thread(self._accounts))

    async def enforce(self) -> set[str]:
        """Revoke every rental whose expiry has passed (closing sessions sshd keeps open)."""
        now, expired = self._clock(), set()
        for rental_id in await self.active():
            path = self._keys_file(self.username_for(rental_id))
            lines = await asyncio.to_thread(read_lines, path)
            expiries = [e for e in map(line_expiry, lines) if e is not None]
            if not expiries or max(expiries) < now:
                await self.revoke(rental_id)
                expired.add(rental_id)
        return expired

    def _keys_file(self, username: str) -> Path:
        return self._keys_dir / username

    def _accounts(self) -> dict[str, pwd.struct_passwd]:
        found = {}
        for pw in pwd.getpwall():
            if pw.pw_name.startswith(self._prefix) and pw.pw_gecos.startswith(GECOS_PREFIX):
                found[pw.pw_gecos[len(GECOS_PREFIX) :]] = pw
        return found

    def _ours(self, rental_id: str, username: str) -> pwd.struct_passwd | None:
        try:
            pw = pwd.getpwnam(username)
        except KeyError:
            return None
        if pw.pw_gecos != f"{GECOS_PREFIX}{rental_id}" or pw.pw_uid == 0:
            raise AccessError(f"account {username} exists but does not belong to this rental")
        return pw

    def _grant(self, rental_id: str, username: str, lines: list[str], expires_at: int) -> None:
        # Shadow expiry is a whole UTC day; one day of slack, expiry-time is the precise lock.
        day = datetime.fromtimestamp(expires_at, tz=UTC).date() + timedelta(days=1)
        pw = self._ours(rental_id, username)
        if pw is None:
            argv = ["useradd", "--create-home", "--home-dir", str(self._home_root / username)]
            argv += ["--shell", self._shell, "--comment", f"{GECOS_PREFIX}{rental_id}"]
            argv += ["--password", "*", "--user-group", "--expiredate", day.isoformat()]
            if self._groups:
                argv += ["--groups", ",".join(self._groups)]
            _run([*argv, username])
            pw = pwd.getpwnam(username)
        else:
            _run(["usermod", "--expiredate", day.isoformat(), username])
        self._keys_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        text = "".join(f"{line}\n" for line in lines)
        write_atomic(self._keys_file(username), text, 0o640, (0, pw.pw_gid))

    def _revoke(self, rental_id: str, username: str) -> None:
        self._keys_file(username).unlink(missing_ok=True)
        pw = self._ours(rental_id, username)
        if pw is None:
            return
        _run(["usermod", "--expiredate", "1", username])  # expired since 1970-01-02
        ssh_sessions.kill_all_of_uid(pw.pw_uid, pw.pw_gid)

    def _cleanup(self, rental_id: str, username: str) -> None:
        self._revoke(rental_id, username)
        pw = self._ours(rental_id, username)
        if pw is None:
            return
        try:
            _run(["userdel", "--remove", username])
        except AccessError:
            _run(["userdel", "--force", "--remove", username])
        _remove_owned(pw.pw_uid)


def _remove_owned(uid: int) -> None:
    """Delete top-level scratch entries owned by ``uid`` so a reused uid inherits nothing."""
    for root in _SCRATCH_DIRS:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
