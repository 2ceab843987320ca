"""WalletConnect links at rest: the ``wallet_sessions`` table, keys encrypted.

The symmetric keys, our proposal key and the peer's public key are sealed with ChaCha20-Poly1305
under a key derived from ``WALLET_KEY_SECRET`` (HKDF-SHA256); the row's user id and topic are
the associated data, so a blob moved to another row does not open. Without the setting (the
development default) a random per-installation key file under the data directory is used and
a warning says so. The relay client seed (its ``did:key`` identity) is kept the same way in
``settings_kv``. Requests in flight are stored with their JSON-RPC ids in ``pending`` (JSON text in the row).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contracts.walletconnect.session import Link, Outgoing, Pairing, Session
from core.domain.model import WalletSession

log = logging.getLogger(__name__)
KEY_FILE = "walletconnect.key"
SEED_KEY = "walletconnect.client_seed"
_VERSION = "v1:"


class StoreError(Exception):
    """A stored secret that does not open with this installation's key."""


class SecretBox:
    """Seals small secrets for the database; raises StoreError for a blob it cannot open."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the at-rest key must be 32 bytes")
        self._aead = ChaCha20Poly1305(key)

    @classmethod
    def from_secret(cls, secret: str) -> SecretBox:
        hkdf = HKDF(hashes.SHA256(), 32, salt=b"rigshare", info=b"walletconnect-at-rest-v1")
        return cls(hkdf.derive(secret.encode()))

    @classmethod
    def from_key_file(cls, data_dir: str | Path) -> SecretBox:
        """The per-installation key under ``data_dir`` (created once, mode 0600)."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        log.warning(
            "WALLET_KEY_SECRET is not set: WalletConnect session keys are encrypted with the "
            "per-installation key in %s (set WALLET_KEY_SECRET in production)",
            path,
        )
        return cls(bytes.fromhex(path.read_text().strip()))

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return _VERSION + base64.b64encode(nonce + sealed).decode()

    def open(self, blob: str, context: str) -> bytes:
        if not blob.startswith(_VERSION):
            raise StoreError("unknown secret format")
        raw = base64.b64decode(blob[len(_VERSION) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as exc:
            raise StoreError("the stored secret does not open with this key") from exc


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


class LinkStore:
    """Loads and saves links through the unit of work; the only code that sees the DB rows.

    Writes are group-committed: changes that arrive while a transaction runs are written
    together in the next one, each caller returning once its change is committed (many
    concurrent sessions would otherwise queue for SQLite's write lock one by one)."""

    def __init__(self, uow: Any, box: SecretBox, clock: Any) -> None:
        self.uow = uow
        self.box = box
        self.clock = clock
        self._dirty: dict[int, Link | None] = {}  # user id -> link to save, None to delete
        self._batch: asyncio.Future | None = None
        self._writer: asyncio.Task | None = None

    async def client_seed(self) -> bytes:
        """The relay identity seed, created on first use."""
        async with self.uow() as uow:
            stored = await uow.settings.get_value(SEED_KEY)
            if stored is not None:
                return self.box.open(stored, SEED_KEY)
            seed = os.urandom(32)
            await uow.settings.set_value(SEED_KEY, self.box.seal(seed, SEED_KEY))
            await uow.commit()
            return seed

    async def load(self) -> list[Link]:
        """Every stored link; rows that do not open (another key) are skipped with a warning."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.wallet_sessions.all()
        links = []
        for row in rows:
            try:
                links.append(self._link(row))
            except (StoreError, ValueError, KeyError, TypeError) as exc:
                log.warning("wallet session of user %s not restored: %s", row.user_id, exc)
        return links

    async def save(self, link: Link) -> None:
        """Store the link as it is when the next transaction starts. Raises what the
        database raises (the change is then not stored)."""
        self._dirty[link.user_id] = link
        await self._committed()

    async def delete(self, user_id: int) -> None:
        self._dirty[user_id] = None
        await self._committed()

    async def _committed(self) -> None:
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        batch = self._batch
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        await asyncio.shield(batch)

    async def _write_batches(self) -> None:
        while self._batch is not None:
            batch, changes = self._batch, self._dirty
            self._batch, self._dirty = None, {}
            try:
                await self._write(changes)
            except Exception as exc:
                batch.set_exception(exc)
            else:
                batch.set_result(None)

    async def _write(self, changes: dict[int, Link | None]) -> None:
        now = self.clock.now()
        async with self.uow() as uow:
            rows = {r.user_id: r for r in await uow.wallet_sessions.for_users(list(changes))}
            for user_id, link in changes.items():
                row = rows.get(user_id)
                if link is None:
                    if row is not None:
                        await uow.session.delete(row)
                    continue
                if row is None:
                    row = WalletSession(user_id, "", "", "", 0, link.created_at or now, now)
                    uow.wallet_sessions.add(row)
                self._fill(row, link, now)
            await uow.commit()

    # -- mapping --------------------------------------------------------------------------------
    def _fill(self, row: WalletSession, link: Link, now: int) -> None:
        s, pg = link.session, link.pairing
        if s is not None:
            secret = {"sym_key": s.sym_key.hex(), "peer_public": s.peer_public.hex()}
            row.status, row.topic, row.pairing_topic = "active", s.topic, s.pairing_topic
            row.address, row.chain_id, row.expiry = s.address, s.chain_id, s.expiry
            row.peer_name = s.peer_name
            extra = {"methods": list(s.methods)}
        else:
            secret = {
                "sym_key": pg.sym_key.hex(),
                "private_key": pg.private_key.hex(),
                "responder_key": _hex(pg.responder_key),
                "session_key": _hex(pg.session_key),
            }
            row.status, row.topic, row.pairing_topic = "pairing", pg.topic, pg.topic
            row.address, row.chain_id, row.expiry, row.peer_name = (
                None,
                pg.chain_id,
                pg.expiry,
                None,
            )
            extra = {"proposal_id": pg.proposal_id, "session_topic": pg.session_topic}
        row.secret = self.box.seal(json.dumps(secret).encode(), _context(link.user_id, row.topic))
        # a new dict: the mapping stores what is assigned, not what is changed in place
        row.pending = {
            **extra,
            "connect": link.connect_request_id,
            "requests": [dict(vars(r)) for r in link.requests],
        }
        row.updated_at = now

    def _link(self, row: WalletSession) -> Link:
        secret = json.loads(self.box.open(row.secret, _context(row.user_id, row.topic)))
        extra = row.pending
        link = Link(
            row.user_id,
            requests=[Outgoing(**r) for r in extra.get("requests", [])],
            connect_request_id=extra.get("connect"),
            created_at=row.created_at,
        )
        if row.status == "active":
            link.session = Session(
                topic=row.topic,
                sym_key=bytes.fromhex(secret["sym_key"]),
                peer_public=bytes.fromhex(secret["peer_public"]),
                pairing_topic=row.pairing_topic or "",
                address=row.address,
                chain_id=row.chain_id,
                expiry=row.expiry,
                peer_name=row.peer_name or "wallet",
                methods=tuple(extra.get("methods", ())),
            )
        else:
            link.pairing = Pairing(
                topic=row.topic,
                sym_key=bytes.fromhex(secret["sym_key"]),
                private_key=bytes.fromhex(secret["private_key"]),
                proposal_id=extra["proposal_id"],
                expiry=row.expiry,
                chain_id=row.chain_id,
                responder_key=_bytes(secret.get("responder_key")),
                session_topic=extra.get("session_topic"),
                session_key=_bytes(secret.get("session_key")),
            )
        return link


def _context(user_id: int, topic: str) -> str:
    return f"wallet_sessions:{user_id}:{topic}"
