"""The chat and the provider agent judge SSH public keys by the same rules: a key /sshkey
accepts is one the agent installs when the rental starts, and the reverse."""

from __future__ import annotations

import base64

import pytest

from core import grammar as g
from core.errors import GrammarError
from provider_agent.errors import InvalidPublicKey
from provider_agent.ssh_keys import generate_keypair, parse_public_key


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _line(*fields: bytes, kind: str) -> str:
    return f"{kind} {base64.b64encode(b''.join(_string(f) for f in fields)).decode()}"


GOOD = [generate_keypair("me@laptop").public_key]
BAD = [
    # an ECDSA key whose point has the wrong length: the old chat check let it through
    _line(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x01" * 10, kind="ecdsa-sha2-nistp256"),
    # an RSA key with an even exponent
    _line(b"ssh-rsa", b"\x02", b"\x01" * 256, kind="ssh-rsa"),
    # an ed25519 key with trailing data
    _line(b"ssh-ed25519", b"\x01" * 32, b"extra", kind="ssh-ed25519"),
]


@pytest.mark.parametrize("line", GOOD)
def test_a_good_key_is_accepted_by_both(line):
    assert isinstance(g.parse(f"/sshkey {line}"), g.SshKey)
    assert parse_public_key(line).line == " ".join(line.split()[:2])


@pytest.mark.parametrize("line", BAD)
def test_a_key_the_agent_refuses_is_refused_in_the_chat(line):
    with pytest.raises(InvalidPublicKey):
        parse_public_key(line)
    with pytest.raises(GrammarError, match="damaged or incomplete"):
        g.parse(f"/sshkey {line}")
