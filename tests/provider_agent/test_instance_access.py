"""What a renter gets from an instance, used with the real OpenSSH client as a person would:
``ssh`` with the host key pinned to the credentials' fingerprint, ``scp``, ``sftp``, a
published port, Jupyter through the tunnel; every template logs in, also one without sshd and
one without Debian's C library; and bad grants are refused with a reason, leaving nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.domain.instances import InstanceError
from core.wire import AgentCommand
from provider_agent.access import AccessInfo
from provider_agent.container_backend import ContainerBackend
from provider_agent.engine_api import EngineError
from provider_agent.executor import CommandExecutor
from provider_agent.selftest import SshSelfTest
from provider_agent.ssh_keys import KeyPair, generate_keypair
from tests.provider_agent.instance_support import backend, expiry, request, running, sh, sh_status

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def renter() -> KeyPair:
    return generate_keypair("renter")


@pytest.fixture
async def host(docker_engine, tmp_path, probe_pair) -> AsyncIterator[ContainerBackend]:
    async with running(backend(docker_engine, tmp_path / "agent", probe=probe_pair)) as b:
        yield b


def _fingerprint_of_line(line: str) -> str:
    blob = base64.b64decode(line.split()[2])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


async def _openssh(*argv: str, stdin: bytes | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 30)
    return proc.returncode or 0, out.decode(errors="replace")


def _client_options(key_file: Path, known_hosts: Path) -> list[str]:
    return [
        "-i",
        str(key_file),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-F",
        "/dev/null",
    ]


async def _trust_after_checking(access: AccessInfo, known_hosts: Path) -> None:
    """What a careful renter does: fetch the key, compare its fingerprint with the one in
    the credentials, and only then trust it."""
    code, out = await _openssh("ssh-keyscan", "-t", "ed25519", "-p", str(access.port), access.host)
    lines = [
        line for line in out.splitlines() if "ssh-ed25519" in line and not line.startswith("#")
    ]
    assert lines, out
    assert _fingerprint_of_line(lines[0]) == access.host_key_fingerprint
    await asyncio.to_thread(known_hosts.write_text, lines[0] + "\n")


async def test_ssh_scp_sftp_and_a_published_port_with_the_openssh_client(
    docker_engine, host, renter, tmp_path
):
    key_file = tmp_path / "id"
    key_file.write_text(renter.private_key)
    key_file.chmod(0o600)
    known = tmp_path / "known_hosts"
    a = await host.grant(
        "201",
        renter.public_key,
        expiry(),
        request(docker_engine, [docker_engine.gpus[0][0]], ports=[8080]),
    )
    assert a.username == "root" and [c for c, _ in a.ports] == [8080]
    await _trust_after_checking(a, known)
    opts = _client_options(key_file, known)
    code, out = await _openssh(
        "ssh", *opts, "-p", str(a.port), f"root@{a.host}", "id -un; hostname"
    )
    assert code == 0 and out.split()[0] == "root", out
    payload = tmp_path / "data.bin"
    payload.write_bytes(b"x" * 100_000)
    code, out = await _openssh(
        "scp", *opts, "-P", str(a.port), str(payload), f"root@{a.host}:/root/data.bin"
    )
    assert code == 0, out
    code, out = await _openssh(
        "sftp", *opts, "-P", str(a.port), f"root@{a.host}", stdin=b"ls -l /root\nbye\n"
    )
    assert code == 0 and "data.bin" in out and "100000" in out, out
    # a service the renter starts on a published port answers from outside
    await sh(
        a,
        renter,
        "cd /root && (python3 -m http.server 8080 >/dev/null 2>&1 &) ; sleep 1",
    )
    host_port = dict(a.ports)[8080]
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://{a.host}:{host_port}/", timeout=5).read()
    )
    assert b"data.bin" in body
    # until the self-test is done the agent's probe key may log in (no tunnels, no agent);
    # then the renter's key is the only one, and the renter cannot change that file
    keys = await sh(a, renter, "cat /root/.ssh/authorized_keys")
    assert keys.count("\n") == 2 and "no-port-forwarding" in keys.splitlines()[1]
    await host.selftest_done("201")
    keys = await sh(a, renter, "cat /root/.ssh/authorized_keys")
    assert keys.splitlines() == [" ".join(renter.public_key.split()[:2])]
    status, out = await sh_status(a, renter, "echo extra >> /root/.ssh/authorized_keys")
    assert status != 0 and "Read-only file system" in out


async def test_every_template_logs_in_including_images_without_sshd(docker_engine, host, renter):
    for i, name in enumerate(("base", "pytorch", "tiny")):
        a = await host.grant(
            f"21{i}",
            renter.public_key,
            expiry(),
            request(docker_engine, [docker_engine.gpus[i][0]], image=name),
        )
        assert (await sh(a, renter, "echo hello")).strip() == "hello"
        assert a.image == docker_engine.images[name]


async def test_jupyter_is_behind_its_token_and_reached_through_the_ssh_tunnel(
    docker_engine, host, renter, tmp_path
):
    a = await host.grant(
        "220",
        renter.public_key,
        expiry(),
        request(docker_engine, [docker_engine.gpus[1][0]], image="jupyter", jupyter=True),
    )
    assert a.jupyter_port == 8888 and a.jupyter_token and len(a.jupyter_token) >= 24
    key_file = tmp_path / "id"
    key_file.write_text(renter.private_key)
    key_file.chmod(0o600)
    known = tmp_path / "known_hosts"
    await _trust_after_checking(a, known)
    local = 18000 + int(time.time()) % 1000
    tunnel = await asyncio.create_subprocess_exec(
        "ssh",
        *_client_options(key_file, known),
        "-N",
        "-L",
        f"{local}:127.0.0.1:{a.jupyter_port}",
        "-p",
        str(a.port),
        f"root@{a.host}",
    )
    try:

        def get(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=5) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        deadline = time.monotonic() + 60
        while True:
            try:
                status = await asyncio.to_thread(get, f"/api/status?token={a.jupyter_token}")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Jupyter did not come up"
            await asyncio.sleep(1)
        assert await asyncio.to_thread(get, "/api/status") == 403  # no token: refused
        assert await asyncio.to_thread(get, "/api/status?token=wrong") == 403
    finally:
        tunnel.terminate()
        await tunnel.wait()
    # it listens on the instance's loopback only: never an open port on the host
    assert 8888 not in dict(a.ports)


async def test_the_self_test_proves_the_gpu_view_and_drops_the_probe_key(
    docker_engine, host, renter, probe_pair
):
    executor = CommandExecutor(host, selftest=SshSelfTest(probe_pair.private_key))
    cmd = AgentCommand(
        id=1,
        seq=1,
        kind="grant",
        rental_id=230,
        public_key=renter.public_key,
        expires_at=expiry(),
        instance=request(docker_engine, [docker_engine.gpus[2][0], docker_engine.gpus[3][0]]),
        issued_at=int(time.time()),
        valid_until=expiry(),
    )
    result = await executor.run(cmd)
    assert result.ok, result.error
    [evidence] = result.evidence
    assert evidence.data["success"] is True and evidence.data["host_key_ok"] is True
    assert len(result.access.gpu_uuids) == 2
    keys = await sh(host_access(result), renter, "cat /root/.ssh/authorized_keys")
    assert probe_pair.public_key.split()[1] not in keys


def host_access(result) -> AccessInfo:
    a = result.access
    return AccessInfo(a.username, a.host, a.port, a.host_key_fingerprint)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"image": "127.0.0.1:5000/rigshare-test/unknown:1"}, "not one of this host's templates"),
        ({"gpu_uuids": ["GPU-not-on-this-host"]}, "is not on this host"),
        ({"ports": [22]}, "the instance's own SSH"),
        ({"ports": [8000, 8001, 8002]}, "at most 2 ports"),
    ],
)
async def test_bad_grants_are_refused_with_a_reason_and_leave_nothing(
    docker_engine, host, renter, change, reason
):
    fields = {"gpus": [docker_engine.gpus[0][0]], **change}
    gpus = fields.pop("gpu_uuids", fields.pop("gpus"))
    image = fields.pop("image", "base")
    with pytest.raises((InstanceError, EngineError), match=reason):
        await host.grant(
            "240", renter.public_key, expiry(), request(docker_engine, gpus, image=image, **fields)
        )
    assert "240" not in await host.active()
    assert not (host.instances_dir / "240").exists()


async def test_a_gpu_in_another_rental_and_a_failed_pull_are_refused(
    docker_engine, tmp_path, renter
):
    b = backend(
        docker_engine, tmp_path / "agent", custom_images=True, registries=("127.0.0.1:5000",)
    )
    await b.start()
    try:
        gpu = docker_engine.gpus[1][0]
        await b.grant("250", renter.public_key, expiry(), request(docker_engine, [gpu]))
        with pytest.raises(InstanceError, match="in rental 250's instance"):
            await b.grant("251", renter.public_key, expiry(), request(docker_engine, [gpu]))
        missing = "127.0.0.1:5000/rigshare-test/base:no-such-tag"
        with pytest.raises(EngineError, match="pulling"):
            await b.grant(
                "252",
                renter.public_key,
                expiry(),
                request(docker_engine, [docker_engine.gpus[2][0]], image=missing),
            )
        with pytest.raises(InstanceError, match="not allowed"):
            await b.grant(
                "253",
                renter.public_key,
                expiry(),
                request(docker_engine, [docker_engine.gpus[2][0]], image="ghcr.io/x/y:1"),
            )
        assert await b.active() == {"250"}
    finally:
        for rental in await b.active():
            await b.cleanup(rental)
        await b.close()
