"""The service's own SSH login (bot/probe_ssh.py) against real SSH servers on loopback: it
logs in with the service's key, insists on the host key the agent reported (an impostor gets
no authentication attempt) and reads what ``nvidia-smi`` inside shows; the judgement
(core.domain.verification.judge_login) turns that into verified or not."""

from __future__ import annotations

import os

import asyncssh
import pytest

from bot.probe_ssh import KEY_FILE, AsyncsshHostProber
from core.domain.verification import GPU_QUERY, judge_login
from core.ports import ProbeTarget

GPUS = ["GPU-11111111-2222-3333-4444-555555555555", "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]


class _Server(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHKey, attempts: list[str]) -> None:
        self._authorized, self._attempts = authorized, attempts

    def begin_auth(self, username: str) -> bool:
        self._attempts.append(username)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data == self._authorized.public_data


async def _serve(prober_key: asyncssh.SSHKey, gpus: list[str] | None, attempts: list[str]):
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    async def process(proc: asyncssh.SSHServerProcess) -> None:
        if proc.command != GPU_QUERY:
            proc.exit(2)
        elif gpus is None:
            proc.stderr.write("bash: nvidia-smi: command not found\n")
            proc.exit(127)
        else:
            proc.stdout.write("".join(f"{u}\n" for u in gpus))
            proc.exit(0)

    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        server_factory=lambda: _Server(prober_key, attempts),
        process_factory=process,
    )
    port = server.sockets[0].getsockname()[1]
    return server, port, host_key.get_fingerprint("sha256")


@pytest.fixture
def prober(tmp_path):
    return AsyncsshHostProber(data_dir=tmp_path, timeout=10)


def _key_of(prober: AsyncsshHostProber) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(prober.public_key())


async def test_a_real_instance_with_the_reported_key_and_gpus_passes(prober, tmp_path):
    attempts: list[str] = []
    server, port, fingerprint = await _serve(_key_of(prober), GPUS, attempts)
    try:
        login = await prober.login(ProbeTarget("127.0.0.1", port, "root", fingerprint), GPU_QUERY)
    finally:
        server.close()
    assert login.error is None and login.host_key_fingerprint == fingerprint
    assert judge_login(fingerprint, GPUS, login) is None
    assert attempts == ["root"]
    # the service's key: made once, private to the service's user
    assert os.stat(tmp_path / KEY_FILE).st_mode & 0o077 == 0


async def test_a_host_key_other_than_the_reported_one_gets_no_login(prober):
    attempts: list[str] = []
    server, port, fingerprint = await _serve(_key_of(prober), GPUS, attempts)
    reported = "SHA256:" + "Q" * 43  # what a lying agent reports
    try:
        login = await prober.login(ProbeTarget("127.0.0.1", port, "root", reported), GPU_QUERY)
    finally:
        server.close()
    assert login.host_key_fingerprint == fingerprint and login.error == "host key mismatch"
    assert attempts == []  # nothing was sent to the impostor
    assert "host key mismatch" in judge_login(reported, GPUS, login)


async def test_other_gpus_or_no_nvidia_smi_is_not_verified(prober):
    for shown, why in ((GPUS[:1], "shows GPUs"), (None, "nvidia-smi is not in the instance")):
        server, port, fingerprint = await _serve(_key_of(prober), shown, [])
        target = ProbeTarget("127.0.0.1", port, "root", fingerprint)
        try:
            login = await prober.login(target, GPU_QUERY)
        finally:
            server.close()
        assert why in judge_login(fingerprint, GPUS, login)


async def test_nothing_listening_is_an_error_not_an_exception(prober):
    server, port, fingerprint = await _serve(_key_of(prober), GPUS, [])
    server.close()
    await server.wait_closed()
    login = await prober.login(ProbeTarget("127.0.0.1", port, "root", fingerprint), GPU_QUERY)
    assert login.error is not None and login.host_key_fingerprint is None
    assert "could not log in" in judge_login(fingerprint, GPUS, login)


async def test_a_configured_key_is_used_and_no_file_is_written(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    prober = AsyncsshHostProber(
        private_key=key.export_private_key("openssh").decode(), data_dir=tmp_path
    )
    assert prober.public_key().split()[1] == key.export_public_key("openssh").decode().split()[1]
    assert not (tmp_path / KEY_FILE).exists()
