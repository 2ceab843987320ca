"""An instance's run directory on the host, mounted read-only at ``/.rigshare/run``.

It holds what the instance must have but its renter must not change: the SSH host key, the
deadline its init enforces, the Jupyter token, and (mounted over ``/root/.ssh/authorized_keys``)
the keys that may log in. ``access.json`` keeps what the grant answered, so a repeated grant
(``/extend``, or a command delivered again after a restart) answers the same. Files are
replaced by rename, so the instance never reads half a file; the authorized_keys file is
rewritten in place because it is bind-mounted on its own (a rename would leave the container
holding the old file).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from provider_agent.access import AccessInfo
from provider_agent.host_keys import HostKey


def _write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def authorized_keys(self) -> Path:
        return self.path / "authorized_keys"

    def exists(self) -> bool:
        return (self.path / "access.json").exists()

    def write(
        self,
        host_key: HostKey,
        deadline: int,
        renter_key: str,
        probe_key: str | None,
        jupyter_token: str | None,
        image: str,
        gpu_uuids: list[str],
    ) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(self.path / "host_key", host_key.dropbear_key, 0o600)
        _write(self.path / "host_key_rsa", host_key.dropbear_rsa_key, 0o600)
        _write(self.path / "deadline", f"{deadline}\n".encode(), 0o644)
        if jupyter_token is not None:
            _write(self.path / "jupyter", jupyter_token.encode(), 0o600)
        meta = {"fingerprint": host_key.fingerprint, "image": image, "gpus": gpu_uuids}
        _write(self.path / "meta.json", json.dumps(meta).encode(), 0o600)
        self._keys(renter_key, probe_key)

    def _keys(self, renter_key: str, probe_key: str | None) -> None:
        # the probe key may only run the self-test's command, without a terminal or tunnels
        lines = [renter_key]
        if probe_key is not None:
            lines.append(f"no-port-forwarding,no-agent-forwarding,no-X11-forwarding {probe_key}")
        text = "".join(f"{line}\n" for line in lines).encode()
        with open(self.authorized_keys, "wb") as fh:  # in place: see the module docstring
            os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def drop_probe_key(self) -> None:
        lines = self.authorized_keys.read_text().splitlines()
        self._keys(lines[0], None)

    def extend(self, deadline: int, renter_key: str, probe_key: str | None) -> None:
        """A later deadline; the probe key goes back in for the self-test of the grant."""
        _write(self.path / "deadline", f"{deadline}\n".encode(), 0o644)
        self._keys(renter_key, probe_key)

    def deadline(self) -> int | None:
        try:
            return int((self.path / "deadline").read_text().strip())
        except (OSError, ValueError):
            return None

    def fingerprint(self) -> str:
        return json.loads((self.path / "meta.json").read_text())["fingerprint"]

    def save_access(self, access: AccessInfo, minors: list[int], cpuset: str) -> None:
        data = {"access": asdict(access), "minors": minors, "cpuset": cpuset}
        _write(self.path / "access.json", json.dumps(data).encode(), 0o600)

    def _saved(self) -> dict:
        return json.loads((self.path / "access.json").read_text())

    def access(self) -> AccessInfo:
        raw = self._saved()["access"]
        raw["ports"] = tuple(tuple(p) for p in raw["ports"])
        raw["gpu_uuids"] = tuple(raw["gpu_uuids"])
        return AccessInfo(**raw)

    def gpus(self) -> tuple[list[str], list[int]]:
        saved = self._saved()
        return list(saved["access"]["gpu_uuids"]), list(saved["minors"])

    @staticmethod
    def cores_in_use(instances_dir: Path) -> set[int]:
        """CPU cores pinned by the instances whose run directories exist."""
        used: set[int] = set()
        for access_file in instances_dir.glob("*/access.json"):
            try:
                cpuset = json.loads(access_file.read_text()).get("cpuset") or ""
            except (OSError, ValueError):
                continue
            used.update(int(c) for c in cpuset.split(",") if c.isdigit())
        return used
