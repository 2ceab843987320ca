"""SharedAccount against a real private sshd: one unix account, one tagged key line per rental.

Open sessions run ``cat``: it lives until killed or until its connection closes (EOF), so no
test leaves processes behind.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time

import pytest

from provider_agent.errors import AccessError, InvalidPublicKey, InvalidRentalId
from provider_agent.ssh_access import SharedAccount
from provider_agent.ssh_keys import generate_keypair
from tests.provider_agent.sshclient import connect, refused, refused_within, run


def _soon(seconds: int = 600) -> int:
    return int(time.time()) + seconds


async def test_grant_allows_login_with_command_and_pty(shared: SharedAccount) -> None:
    renter = generate_keypair()
    access = await shared.grant("r1", renter.public_key, _soon())
    assert access.username == "rstest" and access.host_key_fingerprint.startswith("SHA256:")
    assert (await run(access, renter.private_key)).strip() == "rstest"
    async with connect(access, renter.private_key) as conn:
        result = await conn.run("tty", term_type="xterm", check=True)
        assert str(result.stdout).startswith("/dev/pts/")
    assert await shared.active() == {"r1"}


async def test_revoke_refuses_login_and_closes_open_sessions(shared: SharedAccount) -> None:
    renter = generate_keypair()
    access = await shared.grant("r1", renter.public_key, _soon())
    async with (
        connect(access, renter.private_key) as plain,
        connect(access, renter.private_key) as interactive,
    ):
        await plain.create_process("cat")
        await interactive.create_process(term_type="xterm")  # login shell on a pty
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await shared.revoke("r1")
        await asyncio.wait_for(
            asyncio.gather(plain.wait_closed(), interactive.wait_closed()), timeout=5
        )
        assert time.monotonic() - started < 5
    assert await refused_within(access, renter.private_key, 5) is not None
    assert await shared.active() == set()
    await shared.revoke("r1")  # idempotent


async def test_sshd_refuses_key_after_expiry_time_without_agent(shared: SharedAccount) -> None:
    renter = generate_keypair()
    expires = int(time.time()) + 3  # whole seconds: valid while now <= expires
    access = await shared.grant("r1", renter.public_key, expires)
    assert not await refused(access, renter.private_key)
    async with connect(access, renter.private_key) as conn:
        await conn.create_process("cat")
        await asyncio.sleep(expires + 1.2 - time.time())
        # Nothing of the agent ran since grant(): sshd alone refuses the expired key.
        assert await refused(access, renter.private_key)
        # sshd does not end sessions opened before the expiry; enforce() does.
        assert not conn.is_closed()
        assert await shared.enforce() == {"r1"}
        await asyncio.wait_for(conn.wait_closed(), timeout=5)
    assert await shared.active() == set()


async def test_revoking_one_rental_leaves_the_other_alone(shared: SharedAccount) -> None:
    alice, bob = generate_keypair(), generate_keypair()
    access_a = await shared.grant("ra", alice.public_key, _soon())
    access_b = await shared.grant("rb", bob.public_key, _soon())
    async with (
        connect(access_a, alice.private_key) as conn_a,
        connect(access_b, bob.private_key) as conn_b,
    ):
        await conn_a.create_process("cat")
        await conn_b.create_process("cat")
        await asyncio.sleep(0.3)
        await shared.revoke("ra")
        await asyncio.wait_for(conn_a.wait_closed(), timeout=5)
        assert not conn_b.is_closed()
        assert (await conn_b.run("echo still-here", check=True)).stdout == "still-here\n"
    assert await refused(access_a, alice.private_key)
    assert not await refused(access_b, bob.private_key)
    assert await shared.active() == {"rb"}


async def test_same_key_on_two_rentals_survives_revoking_one(shared: SharedAccount) -> None:
    renter = generate_keypair()
    access = await shared.grant("r1", renter.public_key, _soon())
    await shared.grant("r2", renter.public_key, _soon())
    async with connect(access, renter.private_key) as conn:
        await shared.revoke("r1")
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"
    assert not await refused(access, renter.private_key)


@pytest.mark.parametrize(
    ("rental", "key", "expiry", "error"),
    [
        ("r1", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", 600, InvalidPublicKey),
        ("r1", 'command="sh" GOOD', 600, InvalidPublicKey),
        ("r1", "GOOD\nssh-ed25519 AAAA", 600, InvalidPublicKey),
        ("r 1", "GOOD", 600, InvalidRentalId),
        ("r1", "GOOD", -5, AccessError),
    ],
)
async def test_bad_input_writes_nothing(
    shared: SharedAccount, rental: str, key: str, expiry: int, error: type[Exception]
) -> None:
    good = generate_keypair().public_key
    foreign = f"{generate_keypair().public_key} provider@host\n"
    shared.authorized_keys.write_text(foreign)
    with pytest.raises(error):
        await shared.grant(rental, key.replace("GOOD", good), _soon(expiry))
    assert shared.authorized_keys.read_text() == foreign


async def test_concurrent_grants_keep_exactly_one_line_per_rental(shared: SharedAccount) -> None:
    foreign = f"{generate_keypair().public_key} provider@host"
    shared.authorized_keys.write_text(foreign + "\n")
    keys = [generate_keypair().public_key for _ in range(10)]
    grants = [shared.grant(f"c{i}", key, _soon()) for i, key in enumerate(keys)]
    regrants = [shared.grant(f"c{i}", keys[i], _soon(900)) for i in range(5)]
    await asyncio.gather(*grants, *regrants)
    lines = shared.authorized_keys.read_text().splitlines()
    assert lines[0] == foreign
    for i in range(10):
        assert sum(line.endswith(f" rigshare:c{i}") for line in lines) == 1
        assert sum(line.endswith(f" rigshare:c{i}:probe") for line in lines) == 1
    assert await shared.active() == {f"c{i}" for i in range(10)}
    stat = os.stat(shared.authorized_keys)
    assert stat.st_mode & 0o777 == 0o600
    assert stat.st_uid == pwd.getpwnam("rstest").pw_uid
