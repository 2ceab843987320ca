from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import asyncssh
import pytest

from provider_agent.errors import InvalidPublicKey, InvalidRentalId
from provider_agent.ssh_keys import (
    authorized_line,
    check_rental_id,
    expiry_time,
    generate_keypair,
    host_key_fingerprint,
    line_blob,
    line_tag,
    parse_public_key,
)


def _pub(alg: str, **kw: int) -> str:
    key = asyncssh.generate_private_key(alg, comment="me@laptop", **kw)
    return key.export_public_key("openssh").decode().strip()


@pytest.mark.parametrize(
    ("alg", "kw"),
    [
        ("ssh-ed25519", {}),
        ("ecdsa-sha2-nistp256", {}),
        ("ecdsa-sha2-nistp384", {}),
        ("ecdsa-sha2-nistp521", {}),
        ("ssh-rsa", {"key_size": 2048}),
    ],
)
def test_valid_keys_are_accepted_and_comment_dropped(alg: str, kw: dict[str, int]) -> None:
    text = _pub(alg, **kw)
    key = parse_public_key(f"  {text}\n")
    assert key.key_type == alg
    assert key.line == " ".join(text.split()[:2])


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    text = _pub("ssh-ed25519")
    path = tmp_path / "k.pub"
    path.write_text(text + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert parse_public_key(text).fingerprint == out.split()[1]
    assert host_key_fingerprint(path) == out.split()[1] == host_key_fingerprint(text)
    (tmp_path / "k").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert host_key_fingerprint(tmp_path / "k") == out.split()[1]


def _blob(text: str) -> bytes:
    return base64.b64decode(text.split()[1])


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


ED = _pub("ssh-ed25519")
RSA_SMALL = _pub("ssh-rsa", key_size=1024)
BAD_KEYS = {
    "empty": "",
    "not text": b"ssh-ed25519 AAAA",
    "options prefix": f'command="/bin/sh" {ED}',
    "restrict prefix": f"restrict {ED}",
    "newline inside": ED.replace(" ", "\n", 1),
    "second line": f"{ED}\n{ED}",
    "carriage return": ED + "\rssh-rsa AAAA",
    "nul byte": ED + "\0",
    "no data": "ssh-ed25519",
    "bad base64": "ssh-ed25519 AAAA$$$$",
    "non canonical base64": "ssh-ed25519 " + ED.split()[1].rstrip("=") + "x",
    "type mismatch": "ssh-rsa " + ED.split()[1],
    "truncated": "ssh-ed25519 " + _b64(_blob(ED)[:-5]),
    "trailing data": "ssh-ed25519 " + _b64(_blob(ED) + b"\0\0\0\0"),
    "weak rsa": RSA_SMALL,
    "dsa": "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
    "too long": "ssh-ed25519 " + "A" * 9000,
}


@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_bad_keys_are_rejected(name: str) -> None:
    with pytest.raises(InvalidPublicKey):
        parse_public_key(BAD_KEYS[name])


@pytest.mark.parametrize("rid", ["", "-x", "a b", "a/b", "a:b", "x" * 65, 12, "é"])
def test_bad_rental_ids(rid: object) -> None:
    with pytest.raises(InvalidRentalId):
        check_rental_id(rid)


def test_authorized_line_format() -> None:
    key = parse_public_key(ED)
    line = authorized_line(key, "rigshare:r-1", 1_767_225_600)  # 2026-01-01T00:00:00Z
    assert line == f'restrict,pty,expiry-time="20260101000000Z" {key.line} rigshare:r-1'
    assert expiry_time(1_767_225_599) == "20251231235959Z"
    assert line_tag(line) == "rigshare:r-1" and line_blob(line) == key.blob_b64
    assert line_tag(ED) is None


def test_generate_keypair_round_trips_and_hides_private_key() -> None:
    pair = generate_keypair("renter")
    private = asyncssh.import_private_key(pair.private_key)
    assert private.export_public_key("openssh").decode().strip() == pair.public_key
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert parse_public_key(pair.public_key).key_type == "ssh-ed25519"
    assert "PRIVATE" not in repr(pair) and pair.public_key in repr(pair)
