"""Fixtures for SSH tests against a real, private OpenSSH server on 127.0.0.1.

The server is :class:`provider_agent.sshd_harness.PrivateSshd` (its own port, host key, config
and PidFile under /run; never the system sshd, never port 22). Shared-account tests use the
dedicated unix user ``rstest`` (created if absent and left in place, so parallel test runs
never pull it from under each other); per-rental tests create and delete ``rs-*`` accounts.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from provider_agent.errors import SshdUnavailable
from provider_agent.ssh_access import AccessInfo, SharedAccount
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import KeyPair, generate_keypair
from provider_agent.sshd_harness import PrivateSshd, ensure_user, find_sshd

SHARED_USER = "rstest"
ENSURE_SSHD = Path(__file__).resolve().parents[2] / "scripts" / "ensure-sshd.sh"


@pytest.fixture(scope="session")
def sshd() -> Iterator[PrivateSshd]:
    if os.geteuid() != 0:
        pytest.skip("SSH integration tests need root (private sshd, test unix accounts)")
    if find_sshd() is None and ENSURE_SSHD.exists():
        subprocess.run(["sh", str(ENSURE_SSHD)], check=False, timeout=600)
    try:
        server = PrivateSshd().start()
    except SshdUnavailable as exc:
        pytest.skip(f"cannot start a private OpenSSH server: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_user(sshd: PrivateSshd) -> str:
    ensure_user(SHARED_USER)
    return SHARED_USER


@pytest.fixture(scope="session")
def probe_pair() -> KeyPair:
    return generate_keypair("rigshare-agent-probe")


@pytest.fixture
def rental_id() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
def shared(sshd: PrivateSshd, shared_user: str, probe_pair: KeyPair) -> Iterator[SharedAccount]:
    backend = SharedAccount(
        shared_user,
        host=sshd.host,
        port=sshd.port,
        host_key=sshd.host_key_pub,
        authorized_keys=sshd.keys_dir / shared_user,
        probe_public_key=probe_pair.public_key,
    )
    yield backend
    backend.authorized_keys.unlink(missing_ok=True)


class TrackedAccounts(PerRentalAccounts):
    """Remembers what it granted, so teardown deletes only this test's accounts."""

    granted: set[str]

    async def grant(self, rental_id: str, public_key: str, expires_at_epoch: int) -> AccessInfo:
        self.granted.add(rental_id)
        return await super().grant(rental_id, public_key, expires_at_epoch)


@pytest.fixture
async def per_rental(sshd: PrivateSshd, probe_pair: KeyPair) -> AsyncIterator[TrackedAccounts]:
    home = sshd.dir / "home"
    home.mkdir(mode=0o755, exist_ok=True)
    backend = TrackedAccounts(
        host=sshd.host,
        port=sshd.port,
        host_key=sshd.host_key_pub,
        keys_dir=sshd.keys_dir,
        home_root=home,
        probe_public_key=probe_pair.public_key,
    )
    backend.granted = set()
    yield backend
    for rental in backend.granted:
        await backend.cleanup(rental)
