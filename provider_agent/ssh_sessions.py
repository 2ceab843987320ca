"""Finding and ending the open SSH sessions of one rental (blocking; call via asyncio.to_thread).

Per-rental accounts: every process of the account's uid belongs to the rental, so all of them
are killed with ``kill(-1, SIGKILL)`` executed *as that uid* (a child started with setuid; the
kernel then only lets it signal that uid's processes, sshd's session child included), repeated
until none is left.

Shared account: sshd must run with ``ExposeAuthInfo yes``. sshd then writes, per connection, a
file ``/tmp/sshauth.*`` naming the key that authenticated it, and every process of that
connection's sessions inherits ``SSH_USER_AUTH=<file>``. We scan ``/proc`` for the account's
processes, read that variable from ``/proc/<pid>/environ``, read the file and compare its key
blob with the revoked rental's key. Matches are SIGKILLed together with their parent when that
parent is the account's ``sshd`` session process, which closes the connection itself.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import time
from dataclasses import dataclass

from provider_agent.errors import AccessError

log = logging.getLogger(__name__)
_AUTH_FILE_PREFIX = "/tmp/sshauth."  # fixed by OpenSSH session.c
_MAX_AUTH_FILE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    uid: int
    comm: str


def _proc_info(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return None
    if fields.get("State", "").strip().startswith(("Z", "X")):
        return None  # zombies hold no resources and cannot be killed again
    try:
        return ProcInfo(
            pid=pid,
            ppid=int(fields["PPid"]),
            uid=int(fields["Uid"].split()[0]),
            comm=fields["Name"].strip(),
        )
    except (KeyError, ValueError, IndexError):
        return None


def processes_of_uid(uid: int) -> list[ProcInfo]:
    """Live processes whose real uid is ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _proc_info(int(entry))
            if info is not None and info.uid == uid:
                found.append(info)
    return found


def _auth_file_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(b"SSH_USER_AUTH="):
            return item.split(b"=", 1)[1].decode("utf-8", "replace")
    return None


def _auth_blobs(path: str, uid: int) -> frozenset[str]:
    # The variable is under the renter's control: only read a small regular file that sshd
    # could have written for this uid, without following links or blocking on a FIFO.
    if not path.startswith(_AUTH_FILE_PREFIX) or "/" in path[len(_AUTH_FILE_PREFIX) :]:
        return frozenset()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return frozenset()
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
            return frozenset()
        data = os.read(fd, _MAX_AUTH_FILE).decode("utf-8", "replace")
    finally:
        os.close(fd)
    blobs = set()
    for line in data.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "publickey":
            blobs.add(parts[2])
    return frozenset(blobs)


def session_pids(uid: int, blobs: set[str]) -> set[int]:
    """Pids of ``uid``'s sessions authenticated by any of ``blobs``, with their sshd parents."""
    if not blobs:
        return set()
    procs = {p.pid: p for p in processes_of_uid(uid)}
    cache: dict[str, frozenset[str]] = {}
    targets: set[int] = set()
    for proc in procs.values():
        path = _auth_file_of(proc.pid)
        if path is None:
            continue
        if path not in cache:
            cache[path] = _auth_blobs(path, uid)
        if cache[path] & blobs:
            targets.add(proc.pid)
            parent = procs.get(proc.ppid)
            if parent is not None and parent.comm == "sshd":
                targets.add(parent.pid)
    return targets


def kill_pids(pids: set[int]) -> None:
    """SIGKILL each pid; already-gone processes are fine, refusals are logged."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            log.warning("not allowed to kill session process %s; run the agent as its user", pid)


def kill_sessions_by_key(uid: int, blobs: set[str]) -> int:
    """Kill every session of ``uid`` authenticated by ``blobs``; returns how many pids."""
    pids = session_pids(uid, blobs)
    kill_pids(pids)
    return len(pids)


def kill_all_of_uid(uid: int, gid: int, *, rounds: int = 50) -> None:
    """SIGKILL every process of ``uid`` (never 0) until none is left. Needs root.

    Raises AccessError if processes survive (e.g. a fork storm outpacing us).
    """
    if uid <= 0 or gid <= 0 or uid == os.geteuid():
        raise AccessError(f"refusing to kill all processes of uid {uid}")
    for _ in range(rounds):
        if not processes_of_uid(uid):
            return
        # The id check makes the child a no-op should setuid ever have been skipped.
        subprocess.run(  # noqa: S603 - fixed argv, no shell interpolation of user data
            ["/bin/sh", "-c", '[ "$(id -u)" = "$1" ] && kill -s KILL -- -1', "rs-kill", str(uid)],
            user=uid,
            group=gid,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
        time.sleep(0.02)
    if processes_of_uid(uid):
        raise AccessError(f"processes of uid {uid} survived {rounds} kill rounds")
