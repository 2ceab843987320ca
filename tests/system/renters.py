"""Renters in Telegram, played by the test against the Bot API stand-in.

Each renter is a private chat: it sends ``/rent``, presses the quote's Confirm button, waits
for its SSH credentials, keeps the GPU a little while, sends ``/stop`` and waits for the
receipt. Like a person whose message got no answer, a renter repeats its last step when
nothing arrives for ``stall_s`` (the service may have died while handling it): the same
button on the same quote, or the same command again. What the bot sent is read from the
stand-in's record of Bot API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from tests.bot.telegram.fake_telegram import BotApiServer, Call, FakeTelegram

CREDENTIALS = re.compile(r"^Your (?:GPU|instance) is ready — rental #(\d+)$", re.M)
RECEIPT = re.compile(r"^Rental #(\d+) ended\.$", re.M)
PRIVATE_KEY = re.compile(r"^Private key for rental #(\d+) ")
SENDS = ("sendMessage", "sendDocument", "sendPhoto")
EDITS = ("editMessageText", "editMessageReplyMarkup", "editMessageCaption")
RENT_AGAIN = "send /rent again"


class GatedBotApi(BotApiServer):
    """The stand-in's HTTP front with a gate: while it is closed, calls wait unrecorded, and
    a call whose caller is gone by the time it opens never reached "Telegram"."""

    def __init__(self, telegram: FakeTelegram) -> None:
        super().__init__(telegram)
        self.open = asyncio.Event()
        self.open.set()
        self.times: list[float] = []  # when each recorded call arrived (monotonic)

    async def _handle(self, request: web.Request) -> web.Response:
        await self.open.wait()
        if request.transport is None or request.transport.is_closing():
            raise web.HTTPServiceUnavailable()  # the sender was killed while it waited
        before = len(self.telegram.calls)
        try:
            return await super()._handle(request)
        finally:
            now = time.monotonic()
            self.times += [now] * (len(self.telegram.calls) - before)


class StandIn:
    """The Bot API stand-in on loopback and the updates the test pushes into it."""

    def __init__(self) -> None:
        self.telegram = FakeTelegram(now=int(time.time()))
        self.server = GatedBotApi(self.telegram)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)

    @contextlib.asynccontextmanager
    async def closed(self, recorded):
        """Hold every Bot API call at the gate, wait until ``recorded()`` says the messages
        that got through are recorded as sent by their sender, then let the body run (a kill)
        and reopen the gate.

        A kill inside this block never falls between Telegram accepting a message and the
        sender's commit that records it: no chat API lets a sender close that window (the
        message would be sent again after the restart: at least once), so the crash tests
        keep their kills out of it and land anywhere else.
        """
        self.server.open.clear()
        try:
            deadline = time.monotonic() + 15
            await asyncio.sleep(0.2)
            while not await recorded() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            yield
            # The body killed a sender and waited for its exit, blocking the loop: the calls it
            # left at the gate have closed sockets the loop has not polled yet. One poll lets
            # their transports close, so the check in _handle turns them away on reopening
            # instead of recording a message nobody will mark as sent (it was seen sent twice).
            await asyncio.sleep(0.3)
        finally:
            self.server.open.set()

    def delivered_keys(self, chats) -> set[str]:
        """Outbox keys of the credentials, private keys and receipts the chats received."""
        keys = set()
        for chat in chats:
            counts = self.counts(chat)
            keys |= {f"creds:{r}" for r in counts["credentials"]}
            keys |= {f"key:{r}" for r in counts["private_key"]}
            keys |= {f"settled:{r}" for r in counts["receipt"]}
        return keys

    async def start(self) -> StandIn:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def sent(self, chat_id: int) -> list[Call]:
        return [c for c in self.telegram.sent(chat_id=chat_id) if c.method in SENDS]

    def message_update(self, user_id: int, text: str) -> dict:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"R{user_id}"},
            "from": user_json(user_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"message": message}

    def press_update(self, user_id: int, sent: Call, data: str) -> dict:
        query = {
            "id": str(next(self._query_ids) * 7919),
            "from": user_json(user_id),
            "chat_instance": f"ci-{user_id}",
            "message": sent.result,
            "data": data,
        }
        return {"callback_query": query}

    def story(self, chat_id: int) -> str:
        """What the bot sent to or edited in a chat, with arrival times (failure reports)."""
        times = self.server.times
        return "\n".join(
            f"{times[i] if i < len(times) else 0:.1f} {c.method}: {c.text[:100]!r}"
            for i, c in enumerate(self.telegram.calls)
            if c.chat_id == chat_id
        )

    def counts(self, chat_id: int) -> dict[str, Counter]:
        """Per rental id: credentials, receipts and private keys the chat received."""
        out = {"credentials": Counter(), "receipt": Counter(), "private_key": Counter()}
        for call in self.sent(chat_id):
            for m in CREDENTIALS.finditer(call.text):
                out["credentials"][int(m[1])] += 1
            for m in RECEIPT.finditer(call.text):
                out["receipt"][int(m[1])] += 1
            if call.method == "sendDocument" and (m := PRIVATE_KEY.match(call.text)):
                out["private_key"][int(m[1])] += 1
        return out


def confirm_data(call: Call) -> str | None:
    for b in call.buttons():
        if b["text"] == "Confirm":
            return b["callback_data"]
    return None


def user_json(user_id: int) -> dict:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": f"R{user_id}",
        "username": f"renter{user_id}",
        "language_code": "en",
    }


@dataclass
class Renter:
    user_id: int
    model: str
    region: str
    standin: StandIn
    post: object  # async (update dict) -> None: how updates reach the service
    rng: random.Random
    stall_s: float = 15.0
    hold_s: tuple[float, float] = (1.0, 6.0)
    rental_id: int | None = None
    retries: Counter = field(default_factory=Counter)
    commands: Counter = field(default_factory=Counter)  # updates sent, by command
    log: list[str] = field(default_factory=list)

    async def _send(self, text: str) -> None:
        self.log.append(f"{time.monotonic():.1f} send {text}")
        self.commands[text.split()[0]] += 1
        await self.post(self.standin.message_update(self.user_id, text))

    async def _press(self, sent: Call, data: str) -> None:
        self.log.append(f"{time.monotonic():.1f} press {data}")
        await self.post(self.standin.press_update(self.user_id, sent, data))

    async def run(self, deadline: float) -> None:
        """The whole rental; AssertionError if it cannot be done by ``deadline``."""
        while self.rental_id is None:
            quote = await self._quote(deadline)
            await self._confirm(quote, deadline)  # sets rental_id, or leaves it for a new /rent
        await asyncio.sleep(self.rng.uniform(*self.hold_s))
        await self._stop(deadline)

    def _story(self) -> str:
        return "\n".join(self.log + ["-- the bot:", self.standin.story(self.user_id)])

    def _calls(self) -> list[Call]:
        """Everything the bot sent to or edited in this chat, in order."""
        return [
            c
            for c in self.standin.telegram.calls
            if c.chat_id == self.user_id and (c.method in SENDS or c.method in EDITS)
        ]

    async def _quote(self, deadline: float) -> Call:
        while time.monotonic() < deadline:
            since = len(self._calls())
            await self._send(f"/rent {self.model} 1h region={self.region}")
            quote = await self._next(lambda c: c if confirm_data(c) else None, since)
            if quote is not None:
                return quote
            self.retries["rent"] += 1
        raise AssertionError(f"renter {self.user_id}: no quote\n" + self._story())

    async def _next(self, pick, since: int, within: float | None = None):
        """The first call after index ``since`` that ``pick`` accepts (its result), or None
        after ``within`` seconds; the last look is after the deadline, so a caller that reads
        ``len(self._calls())`` right after a None has missed nothing."""
        deadline = time.monotonic() + (within or self.stall_s)
        while True:
            for call in self._calls()[since:]:
                found = pick(call)
                if found:
                    return found
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def _confirm(self, quote: Call, deadline: float) -> None:
        """Press Confirm until the credentials arrive; a "just taken" answer with the next
        best quote gets that one pressed, one without a quote sends the renter back to /rent."""
        pressed: set[str] = set()
        target = quote
        while time.monotonic() < deadline:
            data = confirm_data(target)
            pressed.add(data)
            since = len(self._calls())
            await self._press(target, data)
            while time.monotonic() < deadline:

                def outcome(call: Call):
                    if m := CREDENTIALS.search(call.text):
                        return ("active", int(m[1]))
                    if (other := confirm_data(call)) and other not in pressed:
                        return ("quote", call)
                    if RENT_AGAIN in call.text:
                        return ("rent", None)
                    return None

                got = await self._next(outcome, since)
                if got is not None:
                    break
                if len(self._calls()) == since:
                    break  # not a word since the press: press again
                since = len(self._calls())
            if got is None:
                self.retries["confirm"] += 1
                continue
            kind, value = got
            if kind == "active":
                self.rental_id = value
                return
            if kind == "rent":
                self.retries["taken"] += 1
                return
            self.retries["taken"] += 1
            target = value
        raise AssertionError(f"renter {self.user_id}: no credentials\n" + self._story())

    async def _stop(self, deadline: float) -> None:
        def receipt(call: Call) -> int | None:
            m = RECEIPT.search(call.text)
            return int(m[1]) if m and int(m[1]) == self.rental_id else None

        while time.monotonic() < deadline:
            since = len(self._calls())
            await self._send(f"/stop #{self.rental_id}")
            while time.monotonic() < deadline:
                if await self._next(receipt, 0) is not None:
                    return
                if len(self._calls()) == since:
                    break  # not a word since /stop: send it again
                since = len(self._calls())
            self.retries["stop"] += 1
        raise AssertionError(f"renter {self.user_id}: no receipt\n" + self._story())
