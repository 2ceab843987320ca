"""A stand-in for the Telegram Bot API, in the manner of aiogram's own test suite.

``FakeTelegram`` answers Bot API methods the way Telegram does (the JSON envelope
``{"ok": ..., "result" | "error_code", "description", "parameters"}``, messages with ids, dates
and chats), records every call with what it carried (text, captions, uploaded files, keyboards)
and can be told to fail: a 403 for users who never opened a chat with the bot, or any status
(500, 429 with ``retry_after``) for the next calls of a method.

Two ways in, both through aiogram's own request building and response checking:
``RecordingSession`` (a ``BaseSession`` for ``Dispatcher.feed_update`` tests) and
``BotApiServer`` (aiohttp on 127.0.0.1: getUpdates long polling, multipart uploads, for the
real polling loop via ``TelegramAPIServer.from_base``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiohttp import web

BOT_ID = 42
BOT_USERNAME = "rigshare_test_bot"
TOKEN = f"{BOT_ID}:TEST-token"
SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}
EDIT_METHODS = {
    "editMessageText",
    "editMessageCaption",
    "editMessageMedia",
    "editMessageReplyMarkup",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]  # JSON fields decoded
    files: dict[str, tuple[str, bytes]]  # attach name -> (file name, content)
    result: Any = None  # what Telegram answered (a message dict for sends and edits)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    def content(self) -> str:
        """Everything a reader of the chat could see: text, caption, keyboard, files."""
        parts = [json.dumps(self.params, ensure_ascii=False)]
        parts += [
            name + "\n" + data.decode("utf-8", "replace") for name, data in self.files.values()
        ]
        return "\n".join(parts)

    def buttons(self) -> list[dict]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1


@dataclass
class FakeTelegram:
    calls: list[Call] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)  # users who never started the bot
    failures: list[Failure] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    commands: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    served: list[int] = field(default_factory=list)  # update ids in getUpdates answers
    now: int = 1_790_000_000

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self.pushed = 0

    # -- what tests look at -------------------------------------------------------------
    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    async def wait_sent(self, method: str, chat_id: int, timeout_s: float) -> list[Call]:
        """``sent(method, chat_id)`` once it holds a call, or empty after ``timeout_s``: for
        an update handled in the background (a webhook answers before the bot replies)."""
        for _ in range(round(timeout_s / 0.01)):
            if self.sent(method, chat_id):
                break
            await asyncio.sleep(0.01)
        return self.sent(method, chat_id)

    def fail(self, method: str, status: int, description: str, **kw: Any) -> None:
        self.failures.append(Failure(method, status, description, **kw))

    def push_update(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **update}
        self.pushed += 1
        self.updates.append(update)
        self._new_update.set()
        return update

    # -- the API ----------------------------------------------------------------------
    async def call(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> tuple[int, dict]:
        if method == "getUpdates":
            return 200, {"ok": True, "result": await self._get_updates(params)}
        call = Call(method, params, files)
        self.calls.append(call)
        for f in self.failures:
            if f.method == method and f.times > 0:
                f.times -= 1
                body = {"ok": False, "error_code": f.status, "description": f.description}
                if f.retry_after is not None:
                    body["parameters"] = {"retry_after": f.retry_after}
                return f.status, body
        if method in SEND_METHODS and call.chat_id in self.blocked:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot can't initiate conversation with a user",
            }
        call.result = self._result(call)
        return 200, {"ok": True, "result": call.result}

    def _result(self, call: Call) -> Any:
        m = call.method
        if m == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Rigshare",
                "username": BOT_USERNAME,
            }
        if m == "setMyCommands":
            key = (
                str(call.params.get("scope", {}).get("type")),
                str(call.params.get("language_code", "")),
            )
            self.commands[key] = call.params["commands"]
            return True
        if m in ("setWebhook", "deleteWebhook"):
            self.webhook = dict(call.params) if m == "setWebhook" else {}
            return True
        if m in SEND_METHODS or m in EDIT_METHODS:
            return self._message(call)
        return True  # answerCallbackQuery and the like

    def _message(self, call: Call) -> dict:
        p = call.params
        chat_id = int(p["chat_id"])
        message_id = int(p["message_id"]) if "message_id" in p else next(self._ids) + 100
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": self.now,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Rigshare",
                "username": BOT_USERNAME,
            },
        }
        if call.method == "sendPhoto" or (
            call.method == "editMessageMedia" and p.get("media", {}).get("type") == "photo"
        ):
            msg["photo"] = [
                {
                    "file_id": f"photo{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 360,
                    "height": 120,
                }
            ]
        if call.method == "sendDocument":
            name = next(iter(call.files.values()))[0] if call.files else "file"
            msg["document"] = {
                "file_id": f"doc{message_id}",
                "file_unique_id": f"d{message_id}",
                "file_name": name,
            }
        caption = p.get("caption") or p.get("media", {}).get("caption")
        if caption:
            msg["caption"] = caption
        elif "text" in p:
            msg["text"] = p["text"]
        if p.get("reply_markup"):
            msg["reply_markup"] = p["reply_markup"]
        return msg

    async def _get_updates(self, params: dict[str, Any]) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout)
            except TimeoutError:
                pass
        self.served += [u["update_id"] for u in self.updates]
        return list(self.updates)


JSON_FIELDS = {"reply_markup", "media", "commands", "scope", "allowed_updates", "entities"}


def _decode(params: dict[str, str]) -> dict[str, Any]:
    """Form fields as Telegram reads them: objects and lists arrive JSON-encoded."""
    return {k: json.loads(v) if k in JSON_FIELDS else v for k, v in params.items()}


class RecordingSession(BaseSession):
    """An aiogram session answered by a FakeTelegram, without a network."""

    def __init__(self, telegram: FakeTelegram | None = None) -> None:
        super().__init__()
        self.telegram = telegram or FakeTelegram()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        files: dict[str, Any] = {}
        params: dict[str, str] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        uploads = {k: (f.filename or k, bytes(f.data)) for k, f in files.items()}
        status, body = await self.telegram.call(method.__api_method__, _decode(params), uploads)
        response = self.check_response(
            bot=bot, method=method, status_code=status, content=json.dumps(body)
        )
        return response.result

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""


class BotApiServer:
    """``https://api.telegram.org/bot<token>/<method>`` on 127.0.0.1 (form and multipart)."""

    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.requests = 0

    async def start(self) -> BotApiServer:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.match_info["token"] != TOKEN:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        params: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.filename:
                    files[part.name] = (part.filename, bytes(await part.read()))
                else:
                    params[part.name] = await part.text()
        else:
            params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        status, body = await self.telegram.call(
            request.match_info["method"], _decode(params), files
        )
        return web.json_response(body, status=status)
