"""SSH key pairs for renters without their own key (asyncssh, ed25519)."""

from __future__ import annotations

import asyncio

import asyncssh


class AsyncsshKeyPairFactory:
    """Implements core.ports.KeyPairFactory."""

    async def generate(self, comment: str) -> tuple[str, str]:
        def _make() -> tuple[str, str]:
            key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
            private = key.export_private_key("openssh").decode()
            public = key.export_public_key("openssh").decode().strip()
            return private, public

        return await asyncio.to_thread(_make)
