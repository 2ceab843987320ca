"""PerRentalAccounts against a real private sshd, with real useradd/userdel (root)."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest

from provider_agent.errors import AccessError, InvalidPublicKey
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import generate_keypair
from provider_agent.ssh_sessions import processes_of_uid
from provider_agent.sshd_harness import PrivateSshd
from tests.provider_agent.sshclient import connect, refused, run


def _soon(seconds: int = 600) -> int:
    return int(time.time()) + seconds


def _exists(path: str | Path) -> bool:
    return Path(path).exists()


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


async def test_grant_creates_account_and_login_works(
    per_rental: PerRentalAccounts, rental_id: str, sshd: PrivateSshd
) -> None:
    renter = generate_keypair()
    access = await per_rental.grant(rental_id, renter.public_key, _soon())
    assert access.username == f"rs-{rental_id}"
    assert access.host_key_fingerprint == sshd.fingerprint
    pw = pwd.getpwnam(access.username)
    assert pw.pw_gecos == f"rigshare rental {rental_id}" and _exists(pw.pw_dir)
    assert (await run(access, renter.private_key, "id -un; pwd")).split() == [
        access.username,
        pw.pw_dir,
    ]
    keys = sshd.keys_dir / access.username
    info = keys.stat()
    assert (info.st_uid, grp.getgrgid(info.st_gid).gr_name, info.st_mode & 0o777) == (
        0,
        access.username,
        0o640,
    )
    # The renter can read but never rewrite their keys (so expiry-time cannot be removed).
    async with connect(access, renter.private_key) as conn:
        attempt = await conn.run(f"echo x >> {keys}; chmod 666 {keys}", check=False)
        assert attempt.exit_status != 0
    assert "expiry-time=" in keys.read_text()
    assert await per_rental.active() >= {rental_id}


async def test_each_key_only_opens_its_own_account(per_rental: PerRentalAccounts) -> None:
    alice, bob = generate_keypair(), generate_keypair()
    access_a = await per_rental.grant("ta-" + os.urandom(3).hex(), alice.public_key, _soon())
    access_b = await per_rental.grant("tb-" + os.urandom(3).hex(), bob.public_key, _soon())
    assert access_a.username != access_b.username
    assert (await run(access_a, alice.private_key)).strip() == access_a.username
    assert (await run(access_b, bob.private_key)).strip() == access_b.username
    assert await refused(access_b, alice.private_key)
    assert await refused(access_a, bob.private_key)


async def test_revoke_closes_sessions_kills_processes_and_refuses_login(
    per_rental: PerRentalAccounts, rental_id: str
) -> None:
    renter = generate_keypair()
    access = await per_rental.grant(rental_id, renter.public_key, _soon())
    uid = pwd.getpwnam(access.username).pw_uid
    async with connect(access, renter.private_key) as conn:
        await conn.run("nohup setsid sleep 300 >/dev/null 2>&1 &", check=True)
        await conn.create_process(term_type="xterm")
        await asyncio.sleep(0.3)
        assert processes_of_uid(uid)
        started = time.monotonic()
        await per_rental.revoke(rental_id)
        await asyncio.wait_for(conn.wait_closed(), timeout=5)
        assert time.monotonic() - started < 5
    assert processes_of_uid(uid) == []  # the detached background job too
    assert await refused(access, renter.private_key)
    assert rental_id not in await per_rental.active()
    assert rental_id in await per_rental.accounts()


async def test_cleanup_removes_account_home_keys_and_scratch_files(
    per_rental: PerRentalAccounts, rental_id: str, sshd: PrivateSshd
) -> None:
    renter = generate_keypair()
    access = await per_rental.grant(rental_id, renter.public_key, _soon())
    pw = pwd.getpwnam(access.username)
    await run(access, renter.private_key, "echo secret > /tmp/rigshare-test-leftover-$(id -u)")
    leftover = f"/tmp/rigshare-test-leftover-{pw.pw_uid}"
    assert _exists(leftover)
    await per_rental.cleanup(rental_id)
    with pytest.raises(KeyError):
        pwd.getpwnam(access.username)
    assert not _exists(pw.pw_dir)
    assert not _exists(sshd.keys_dir / access.username)
    assert not _exists(leftover)
    assert rental_id not in await per_rental.accounts()
    await per_rental.cleanup(rental_id)  # idempotent
    await per_rental.revoke(rental_id)


async def test_regrant_extends_the_same_account(
    per_rental: PerRentalAccounts, rental_id: str
) -> None:
    renter = generate_keypair()
    first = await per_rental.grant(rental_id, renter.public_key, _soon(60))
    uid = pwd.getpwnam(first.username).pw_uid
    await per_rental.revoke(rental_id)
    again = await per_rental.grant(rental_id, renter.public_key, _soon(3600))
    assert again == first and pwd.getpwnam(first.username).pw_uid == uid
    assert (await run(again, renter.private_key)).strip() == first.username


async def test_bad_key_creates_nothing(per_rental: PerRentalAccounts, rental_id: str) -> None:
    with pytest.raises(InvalidPublicKey):
        await per_rental.grant(rental_id, "ssh-ed25519 AAAA not-a-key", _soon())
    with pytest.raises(KeyError):
        pwd.getpwnam(per_rental.username_for(rental_id))
    assert rental_id not in await per_rental.accounts()


async def test_refuses_to_touch_an_account_it_did_not_create(
    per_rental: PerRentalAccounts, rental_id: str
) -> None:
    name = per_rental.username_for(rental_id)
    _sh("useradd", "--no-create-home", name)
    try:
        with pytest.raises(AccessError, match="does not belong"):
            await per_rental.grant(rental_id, generate_keypair().public_key, _soon())
        with pytest.raises(AccessError, match="does not belong"):
            await per_rental.cleanup(rental_id)
        pwd.getpwnam(name)
    finally:
        _sh("userdel", name)


def test_long_or_mixed_case_ids_map_to_hashed_names(per_rental: PerRentalAccounts) -> None:
    assert per_rental.username_for("abc-1") == "rs-abc-1"
    hashed = {per_rental.username_for("ABC-1"), per_rental.username_for("x" * 64)}
    assert all(len(n) == 19 and n.startswith("rs-") for n in hashed) and len(hashed) == 2


async def test_enforce_revokes_overdue_rentals_and_ends_their_sessions(
    sshd: PrivateSshd, rental_id: str
) -> None:
    now = [time.time()]
    backend = PerRentalAccounts(
        host=sshd.host,
        port=sshd.port,
        host_key=sshd.host_key_pub,
        keys_dir=sshd.keys_dir,
        home_root=sshd.dir / "home",
        clock=lambda: now[0],
    )
    renter = generate_keypair()
    try:
        access = await backend.grant(rental_id, renter.public_key, int(now[0]) + 600)
        async with connect(access, renter.private_key) as conn:
            await conn.create_process("cat")
            assert await backend.enforce() == set()
            now[0] += 601  # the agent's clock passes paid-until; sshd's has not
            assert await backend.enforce() == {rental_id}
            await asyncio.wait_for(conn.wait_closed(), timeout=5)
        assert await refused(access, renter.private_key)
    finally:
        await backend.cleanup(rental_id)
