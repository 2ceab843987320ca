"""The demo's chat window: the terminal front end, remembering what each person received."""

from __future__ import annotations

import asyncssh

from bot.common import render
from bot.terminal.chat import PLATFORM, TerminalChat
from core.domain.model import Rental


class DemoChat(TerminalChat):
    """Prints replies and notifications exactly as ``rigshare chat`` does; a private key is
    kept for the renter's SSH client and never printed."""

    def __init__(self, app, out) -> None:  # noqa: ANN001 - App, print-like
        super().__init__(app, out)
        self.received: dict[str, list[tuple[str, dict]]] = {}
        self.keys: dict[str, str] = {}

    async def flush(self) -> int:
        await self.app.settle()
        sent = 0
        for msg in await self.app.notifications.due():
            if msg.platform != PLATFORM:
                continue
            user = str(msg.chat_id or msg.user_id)
            self.received.setdefault(user, []).append((msg.kind, dict(msg.payload)))
            if msg.kind == "private_key":
                self.keys[user] = str(msg.payload.get("private_key", ""))
                self.out(f"  📨 to {user}: " + render.outbox(msg).splitlines()[0])
                self.out("     [key file rigshare-rental.key saved by the chat app, not shown]")
            else:
                self.out(f"  📨 to {user}: " + render.outbox(msg).replace("\n", "\n     "))
            await self.app.notifications.mark_sent(msg.outbox_id)
            sent += 1
        return sent

    def got(self, user: str, kind: str) -> bool:
        return any(k == kind for k, _ in self.received.get(user, ()))

    def payload(self, user: str, kind: str) -> dict:
        return next(p for k, p in reversed(self.received.get(user, [])) if k == kind)

    def private_key(self, user: str) -> str:
        return self.keys[user]

    async def rental_of(self, user: str) -> Rental:
        """The user's newest rental, as the database has it now."""
        who = await self.principal(user)
        async with self.app.uow(readonly=True) as uow:
            rentals = await uow.rentals.for_renter(who.user_id)
        return max(rentals, key=lambda r: r.id)


async def ssh_run(access: dict, private_key: str, command: str | None = None) -> str:
    """Log in with the rental's key, accepting only the host key whose fingerprint the
    credentials message carried; return the command's output."""
    from rigshare_dev.demo.host import GPU_CHECK

    key = asyncssh.import_private_key(private_key)
    expected = access["host_key_fingerprint"]

    class _Verify(asyncssh.SSHClient):
        def validate_host_public_key(self, host, addr, port, key) -> bool:  # noqa: ANN001
            return key.get_fingerprint("sha256") == expected

    async with asyncssh.connect(
        access["host"],
        port=int(access["port"]),
        username=access["username"],
        client_keys=[key],
        known_hosts=([], [], []),  # nothing trusted in advance: _Verify decides
        server_host_key_algs=["ssh-ed25519"],  # the key the credentials' fingerprint names
        client_factory=_Verify,
    ) as conn:
        result = await conn.run(command or GPU_CHECK, check=True, timeout=15)
    return str(result.stdout)
