"""Identity: a chat user becomes a principal; language, wallet and SSH key settings."""

from __future__ import annotations

from core.domain.model import User, stored_id
from core.errors import NotFound, ValidationError
from core.services.base import Service, require
from core.services.views import Notice, Principal

LANGS = ("en", "de")


class UserService(Service):
    async def identify(
        self,
        platform: str,
        external_id: str,
        display_name: str,
        *,
        lang_hint: str | None = None,
        chat_id: str | None = None,
        private_chat: bool = True,
    ) -> Principal:
        """Find or create the user behind a chat identity (language from the platform)."""
        name = (display_name or external_id)[:64]
        # every update starts here: a known user in a known chat is a read, so it neither
        # waits for nor holds the write connection (SQLite has one per process)
        async with self.uow(readonly=True) as uow:
            known = await uow.users.by_external(platform, external_id)
        if known is not None and not (chat_id and private_chat and known.chat_id != chat_id):
            return Principal(stored_id(known), platform, private_chat, known.lang)
        async with self.uow() as uow:
            user = await uow.users.by_external(platform, external_id)
            if user is None:
                lang = lang_hint[:2].lower() if lang_hint else "en"
                user = User(
                    platform=platform,
                    external_id=external_id,
                    display_name=name,
                    created_at=self.clock.now(),
                    lang=lang if lang in LANGS else "en",
                    chat_id=chat_id,
                )
                user = await uow.users.create_or_get(user)
                await uow.commit()
            elif chat_id and private_chat and user.chat_id != chat_id:
                user.chat_id = chat_id
                await uow.commit()
            return Principal(stored_id(user), platform, private_chat, user.lang)

    async def set_lang(self, who: Principal, lang: str | None) -> Notice:
        """Switch the reply language; raise ValidationError for an unsupported one."""
        if lang is None:
            return Notice("lang.current", {"lang": who.lang})
        if lang not in LANGS:
            raise ValidationError.keyed("users.lang", lang=lang)
        async with self.uow() as uow:
            user = require(await uow.users.get(who.user_id), NotFound.keyed("users.unknown"))
            user.lang = lang
            await uow.commit()
        return Notice("lang.set", {"lang": lang})

    async def set_ssh_key(self, who: Principal, public_key: str | None) -> Notice:
        """Store the renter's own public key (validated by the grammar), or show/clear it."""
        async with self.uow() as uow:
            user = require(await uow.users.get(who.user_id), NotFound.keyed("users.unknown"))
            if public_key is None:
                if user.ssh_public_key:
                    return Notice("sshkey.current", {"key": _short_key(user.ssh_public_key)})
                return Notice("sshkey.none")
            user.ssh_public_key = public_key
            await uow.commit()
        return Notice("sshkey.set", {"key": _short_key(public_key)})

    async def get(self, user_id: int) -> User:
        async with self.uow(readonly=True) as uow:
            return require(await uow.users.get(user_id), NotFound.keyed("users.unknown"))


def _short_key(key: str) -> str:
    parts = key.split()
    body = parts[1] if len(parts) > 1 else key
    return f"{parts[0]} …{body[-12:]}"
