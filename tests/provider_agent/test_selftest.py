"""Self-test logins with the agent's probe key against the real private sshd."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from provider_agent.selftest import SshSelfTest
from provider_agent.ssh_access import SharedAccount
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import KeyPair, generate_keypair


def _soon() -> int:
    return int(time.time()) + 600


async def test_probe_login_runs_gpu_check_or_fallback(
    shared: SharedAccount, probe_pair: KeyPair
) -> None:
    access = await shared.grant("r1", generate_keypair().public_key, _soon())
    before = time.time()
    evidence = await SshSelfTest(
        probe_pair.private_key, command="definitely-not-nvidia-smi", fallback_command="echo ok"
    ).run(access)
    assert evidence.success and evidence.host_key_ok and evidence.error is None
    assert (evidence.command, evidence.exit_status, evidence.output_head) == ("echo ok", 0, "ok\n")
    assert before <= evidence.started_at <= evidence.finished_at <= time.time()
    assert 0 < evidence.latency_ms < 10_000
    assert evidence.as_dict()["username"] == "rstest"


async def test_default_command_is_nvidia_smi(shared: SharedAccount, probe_pair: KeyPair) -> None:
    access = await shared.grant("r1", generate_keypair().public_key, _soon())
    evidence = await SshSelfTest(probe_pair.private_key, fallback_command="echo ok").run(access)
    assert evidence.success
    assert evidence.command in ("echo ok", "nvidia-smi --query-gpu=name,uuid --format=csv,noheader")


async def test_host_key_mismatch_fails_before_running_anything(
    shared: SharedAccount, probe_pair: KeyPair
) -> None:
    access = await shared.grant("r1", generate_keypair().public_key, _soon())
    forged = dataclasses.replace(access, host_key_fingerprint="SHA256:" + "A" * 43)
    evidence = await SshSelfTest(probe_pair.private_key, command="echo ok").run(forged)
    assert not evidence.success and not evidence.host_key_ok
    assert "host key mismatch" in (evidence.error or "")
    assert evidence.exit_status is None and evidence.output_head == ""


async def test_revoked_rental_fails_the_probe(shared: SharedAccount, probe_pair: KeyPair) -> None:
    access = await shared.grant("r1", generate_keypair().public_key, _soon())
    await shared.revoke("r1")
    evidence = await SshSelfTest(probe_pair.private_key, command="echo ok").run(access)
    assert not evidence.success and evidence.host_key_ok
    assert "PermissionDenied" in (evidence.error or "")


async def test_failing_command_is_reported(shared: SharedAccount, probe_pair: KeyPair) -> None:
    access = await shared.grant("r1", generate_keypair().public_key, _soon())
    evidence = await SshSelfTest(probe_pair.private_key, command="echo boom >&2; exit 3").run(
        access
    )
    assert not evidence.success and evidence.exit_status == 3
    assert evidence.output_head == "boom\n" and "exited with 3" in (evidence.error or "")


async def test_probe_on_per_rental_account_and_no_private_key_in_logs(
    per_rental: PerRentalAccounts,
    rental_id: str,
    probe_pair: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    renter = generate_keypair()
    access = await per_rental.grant(rental_id, renter.public_key, _soon())
    evidence = await SshSelfTest(probe_pair.private_key, command="id -un").run(access)
    assert evidence.success and evidence.output_head.strip() == access.username
    secret_lines = [
        *probe_pair.private_key.splitlines()[1:-1],
        *renter.private_key.splitlines()[1:-1],
    ]
    assert caplog.text and not any(line in caplog.text for line in secret_lines)
    assert probe_pair.private_key not in repr(evidence)
