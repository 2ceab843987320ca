"""A private OpenSSH server on 127.0.0.1 for tests and benchmarks; never the system sshd.

It runs ``sshd -D -e -f <own config>`` on a free loopback port with its own ed25519 host key,
PidFile and log inside its own directory. Keys are read from ``<dir>/keys/%u`` (the layout
:class:`~provider_agent.ssh_accounts.PerRentalAccounts` writes). ``StrictModes yes`` stays on,
so that directory sits under ``/run`` (root-owned, not group/world-writable, unlike ``/tmp``).
Needs root: only root's sshd can log in as other users. Raises SshdUnavailable.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from provider_agent.errors import SshdUnavailable
from provider_agent.ssh_keys import host_key_fingerprint

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/keys/%u
AllowUsers {allow_users}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
ExposeAuthInfo yes
DisableForwarding yes
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
MaxStartups 100:30:200
MaxAuthTries 3
LoginGraceTime 20
ClientAliveInterval 5
Subsystem sftp internal-sftp
"""


def find_sshd() -> str | None:
    for candidate in ("/usr/sbin/sshd", shutil.which("sshd")):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)  # sshd re-execs itself: absolute path required
    return None


def ensure_user(name: str, comment: str = "rigshare test account") -> None:
    """Create a plain login account for shared-account tests if it does not exist (root)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(  # noqa: S603
            ["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*"]
            + ["--comment", comment, name],
            check=True,
            capture_output=True,
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateSshd:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`."""

    host = "127.0.0.1"

    def __init__(self, *, allow_users: str = "rstest rs-*", parent: str = "/run") -> None:
        self.allow_users = allow_users
        self._parent = parent
        self.dir = Path()
        self.port = 0
        self.fingerprint = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    @property
    def host_key_pub(self) -> Path:
        return self.dir / "ssh_host_ed25519_key.pub"

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> PrivateSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> PrivateSshd:
        sshd = find_sshd()
        if sshd is None:
            raise SshdUnavailable("sshd not found; run scripts/ensure-sshd.sh (openssh-server)")
        if os.geteuid() != 0:
            raise SshdUnavailable("the private sshd needs root to log in as test accounts")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        self.dir = Path(tempfile.mkdtemp(prefix="rigshare-sshd-", dir=self._parent))
        self.dir.chmod(0o755)
        self.keys_dir.mkdir(mode=0o755)
        self._host_key()
        self.fingerprint = host_key_fingerprint(self.host_key_pub)
        for _attempt in range(5):
            self.port = _free_port()
            config = self.dir / "sshd_config"
            config.write_text(
                CONFIG.format(port=self.port, dir=self.dir, allow_users=self.allow_users)
            )
            check = subprocess.run(  # noqa: S603
                [sshd, "-t", "-f", str(config)], capture_output=True, text=True, check=False
            )
            if check.returncode != 0:
                self.stop()
                raise SshdUnavailable(f"sshd rejected the test config: {check.stderr.strip()}")
            if self._launch(sshd, config):
                return self
        tail = self.log()[-2000:]
        self.stop()
        raise SshdUnavailable(f"private sshd did not start:\n{tail}")

    def _host_key(self) -> None:
        import asyncssh

        key = asyncssh.generate_private_key("ssh-ed25519", comment="rigshare-test-host")
        private = self.dir / "ssh_host_ed25519_key"
        private.write_bytes(key.export_private_key("openssh"))
        private.chmod(0o600)
        self.host_key_pub.write_bytes(key.export_public_key("openssh"))

    def _launch(self, sshd: str, config: Path) -> bool:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if f"Server listening on 127.0.0.1 port {self.port}" in self.log():
                return True
            if self._proc.poll() is not None:
                return False  # most likely the port was taken meanwhile; try another
            time.sleep(0.02)
        self._kill()
        return False

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        """Stop the daemon (its per-connection children exit with their connections)."""
        self._kill()
        if self.dir != Path() and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
