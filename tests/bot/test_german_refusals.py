"""Refusals that once reached German users in English (issue 14, item 6): through the real
dispatcher, each reads in the user's language, and the English one is unchanged."""

from __future__ import annotations

import base64
import struct

import pytest

from bot.common.dispatch import Dispatcher
from tests.support import renter


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _rsa_key(bits: int) -> str:
    modulus = b"\x00" + (1 << (bits - 1) | 1).to_bytes(bits // 8, "big")
    blob = _ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01") + _ssh_string(modulus)
    return "ssh-rsa " + base64.b64encode(blob).decode()


DSA = "ssh-dss " + base64.b64encode(_ssh_string(b"ssh-dss") + _ssh_string(b"x" * 20)).decode()
CASES = [
    (
        f"/sshkey {_rsa_key(1024)}",
        "That RSA key has 1024 bits",
        "Dieser RSA-Schlüssel hat 1024 Bit",
    ),
    (f"/sshkey {DSA}", "DSA keys are no longer safe", "DSA-Schlüssel sind nicht mehr sicher"),
    ("/help frobnicate", "No help on 'frobnicate'", "Keine Hilfe zu 'frobnicate'"),
    ("/gpus page=2 page=3", "page is given twice", "ist doppelt angegeben"),
    ("/dispute " + "x" * 600, "That reason is too long", "Diese Begründung ist zu lang"),
]


@pytest.mark.parametrize(("line", "english", "german"), CASES)
async def test_the_refusal_reads_in_the_users_language(app, line, english, german):
    alice = await renter(app)
    dispatcher = Dispatcher(app)
    reply = await dispatcher.handle_text(alice, line)
    assert reply.error and english in reply.text, reply.text
    assert (await dispatcher.handle_text(alice, "/lang de")).text
    reply = await dispatcher.handle_text(
        await app.users.identify("terminal", "alice", "alice"), line
    )
    assert reply.error and german in reply.text, reply.text
    assert english not in reply.text
