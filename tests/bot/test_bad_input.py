"""Every bad command gets one clear message and changes nothing in the database."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.common.dispatch import Dispatcher
from core.db.tables import metadata
from tests.support import add_provider, renter

BAD = [
    ("/rent 4900 3h", "Unknown GPU"),
    ("/rent 4090 0h", "too short"),
    ("/rent 4090 -3h", "negative"),
    ("/rent 4090 999999d", "too long"),
    ("/rent 4090 99999999999999999999999999h", "too long"),
    ("/rent 4090", "how long"),
    ("/rent", "Which GPU"),
    ("/rent h100 1d max=$abc", ""),
    ("/extend 0h", "too short"),
    ("/rate 9", ""),
    ("/price box1 -1", ""),
    ("/register 0xnothex", ""),
    ("/sshkey ssh-ed25519 not-base64!!", ""),
    ("/lang klingon", ""),
    ("/gpus vram>=abc", ""),
    ("/frobnicate", ""),
    ("'; DROP TABLE rentals;--", ""),
    ("/rent 4090'; DROP TABLE listings;-- 3h", ""),
    ("/status <script>alert(1)</script>", ""),
    ("/rent 🚀 3h", ""),
    ("/rent " + "9" * 5000, ""),
    ("/stop #999999", ""),
    ("/status 12abc", ""),
]


async def _snapshot(app) -> dict[str, list]:
    out = {}
    async with app.uow(readonly=True) as uow:
        for table in metadata.sorted_tables:
            rows = (await uow.session.execute(select(table))).all()
            if table.name == "settings_kv":  # the question asked back ("for how long?") is kept
                rows = [row for row in rows if not row[0].startswith("ask:")]
            out[table.name] = sorted(map(tuple, rows), key=repr)
    return out


@pytest.mark.parametrize(("line", "fragment"), BAD)
async def test_bad_input_clear_message_and_no_change(app, line, fragment):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    alice = await renter(app)
    before = await _snapshot(app)
    reply = await Dispatcher(app).handle_text(alice, line)
    assert reply.error, reply.text
    assert fragment.lower() in reply.text.lower()
    assert "reference" not in reply.text  # an expected error, not a crash
    assert len(reply.text) < 400
    assert await _snapshot(app) == before


async def test_unexpected_error_generic_reply_with_reference(app, caplog, monkeypatch):
    alice = await renter(app)

    async def boom(*args, **kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr(app.market, "search", boom)
    with caplog.at_level(logging.ERROR):
        reply = await Dispatcher(app).handle_text(alice, "/gpus")
    assert reply.error
    assert "reference" in reply.text and "exploded" not in reply.text
    ref = reply.text.split("reference ")[1].split(")")[0]
    record = next(r for r in caplog.records if ref in r.getMessage())
    assert record.exc_info and "database exploded" in str(record.exc_info[1])


@pytest.mark.parametrize(
    "line", ["/rent ４０９０ ３h", "/rent 4090 3h \x00", "/RENT rtx-4090 3 hours"]
)
async def test_odd_but_meaningful_input_is_understood(app, line):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    alice = await renter(app)
    reply = await Dispatcher(app).handle_text(alice, line)
    assert not reply.error, reply.text
    assert "RTX 4090" in reply.text and "Duration: 3h" in reply.text
