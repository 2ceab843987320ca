"""WalletConnect links at rest, on SQLite and PostgreSQL: round trips, keys encrypted (the raw
key bytes never appear in a row), blobs bound to their row, the development key file."""

from __future__ import annotations

import base64
import logging
import os
import stat

import pytest
from sqlalchemy import text

from contracts.walletconnect.crypto import KeyPair, random_key, topic_of
from contracts.walletconnect.session import Link, Outgoing, Pairing, Session
from contracts.walletconnect.store import SEED_KEY, LinkStore, SecretBox, StoreError
from core.db.uow import SqlAlchemyUowFactory


def pairing_link(user_id: int) -> Link:
    sym, keys = random_key(), KeyPair.generate()
    responder = KeyPair.generate().public
    session_key = random_key()
    pairing = Pairing(
        topic_of(sym), sym, keys.private, 1795264284346967, 1_790_000_300, 137, responder,
        topic_of(session_key), session_key,
    )  # fmt: skip
    queued = Outgoing("tok-q", "personal_sign", {"message": "hello"}, 1_790_000_200)
    return Link(user_id, pairing, None, [queued], "tok-connect", 1_790_000_000)


def session_link(user_id: int) -> Link:
    sym = random_key()
    session = Session(
        topic_of(sym), sym, KeyPair.generate().public, "ab" * 32,
        "0x" + "12" * 20, 137, 1_790_600_000, "MetaMask Wallet",
        ("personal_sign", "eth_signTypedData_v4"),
    )  # fmt: skip
    sent = Outgoing("tok-s", "eth_signTypedData_v4", {"types": {}}, 1_790_000_200, 1795264287559507)
    return Link(user_id, None, session, [sent], None, 1_790_000_000)


def secrets_of(link: Link) -> list[bytes]:
    if link.session is not None:
        return [link.session.sym_key, link.session.peer_public]
    pg = link.pairing
    return [pg.sym_key, pg.private_key, pg.responder_key, pg.session_key]


async def raw_rows(app) -> list[str]:
    async with app.db.write.connect() as conn:
        rows = (await conn.execute(text("select * from wallet_sessions"))).all()
        kv = (await conn.execute(text("select key, value from settings_kv"))).all()
    return [" ".join(str(v) for v in row) for row in [*rows, *kv]]


def assert_absent(secret: bytes, rows: list[str]) -> None:
    forms = [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode().rstrip("=")]
    forms.append(secret.decode("latin-1"))
    for row in rows:
        for form in forms:
            assert form not in row


async def test_links_round_trip_with_keys_encrypted_at_rest(app):
    store = LinkStore(SqlAlchemyUowFactory(app.db), SecretBox(os.urandom(32)), app.clock)
    links = [pairing_link(1), session_link(2)]
    for link in links:
        await store.save(link)
    seed = await store.client_seed()
    loaded = {link.user_id: link for link in await store.load()}
    for link in links:
        got = loaded[link.user_id]
        assert (got.pairing, got.session, got.requests) == (
            link.pairing,
            link.session,
            link.requests,
        )
        assert got.connect_request_id == link.connect_request_id
    rows = await raw_rows(app)
    assert len(rows) >= 3 and any("MetaMask Wallet" in r for r in rows)  # the rows are read
    for link in links:
        for secret in secrets_of(link):
            assert_absent(secret, rows)
    assert_absent(seed, rows)
    assert await store.client_seed() == seed
    # updating a link rewrites its row (pairing -> session keeps one row per user)
    await store.save(session_link(1))
    async with store.uow() as uow:
        rows = await uow.wallet_sessions.all()
    assert [(r.user_id, r.status) for r in rows] == [(1, "active"), (2, "active")]
    await store.delete(1)
    assert [link.user_id for link in await store.load()] == [2]


async def test_a_blob_moved_to_another_row_or_read_with_another_key_does_not_open(app, caplog):
    uow = SqlAlchemyUowFactory(app.db)
    store = LinkStore(uow, SecretBox.from_secret("right"), app.clock)
    await store.save(session_link(1))
    await store.save(session_link(2))
    await store.client_seed()
    async with app.db.write.begin() as conn:
        await conn.execute(
            text(
                "update wallet_sessions set secret = "
                "(select secret from wallet_sessions where user_id = 1) where user_id = 2"
            )
        )
    with caplog.at_level(logging.WARNING):
        assert [link.user_id for link in await store.load()] == [1]
    assert "user 2 not restored" in caplog.text
    wrong = LinkStore(uow, SecretBox.from_secret("wrong"), app.clock)
    assert await wrong.load() == []
    with pytest.raises(StoreError):
        await wrong.client_seed()
    async with uow() as u:
        stored_seed = await u.settings.get_value(SEED_KEY)
    assert stored_seed.startswith("v1:")


def test_the_development_key_file_is_private_and_stable(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        first = SecretBox.from_key_file(tmp_path / "data")
    assert "WALLET_KEY_SECRET is not set" in caplog.text
    path = tmp_path / "data" / "walletconnect.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = first.seal(b"secret", "ctx")
    assert SecretBox.from_key_file(tmp_path / "data").open(blob, "ctx") == b"secret"
    with pytest.raises(StoreError):
        first.open(blob, "other context")
    with pytest.raises(StoreError):
        SecretBox.from_secret("x").open(blob, "ctx")
