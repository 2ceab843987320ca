"""Renter-side SSH helpers for the integration tests (asyncssh client, no agent, no config)."""

from __future__ import annotations

import time
from typing import Any

import asyncssh

from provider_agent.access import AccessInfo


def connect(access: AccessInfo, private_key: str) -> Any:
    """``async with connect(...) as conn`` logs in as the renter would."""
    return asyncssh.connect(
        access.host,
        port=access.port,
        username=access.username,
        client_keys=[asyncssh.import_private_key(private_key)],
        known_hosts=None,
        server_host_key_algs=["ssh-ed25519"],
        agent_path=None,
        config=[],
        preferred_auth="publickey",
        connect_timeout=10,
    )


async def run(access: AccessInfo, private_key: str, command: str = "id -un") -> str:
    """Log in, run ``command``, return its stdout; raises asyncssh.PermissionDenied if refused."""
    async with connect(access, private_key) as conn:
        result = await conn.run(command, check=True)
        return str(result.stdout)


async def refused(access: AccessInfo, private_key: str) -> bool:
    try:
        await run(access, private_key)
    except asyncssh.PermissionDenied:
        return True
    except (OSError, asyncssh.Error):  # a login cut short by the revoke itself: ask again
        return False
    return False


async def refused_within(access: AccessInfo, private_key: str, seconds: float) -> float | None:
    """Seconds until a login is refused, or None if it still works after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if await refused(access, private_key):
            return time.monotonic() - start
    return None
