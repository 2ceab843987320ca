"""A conversation can continue: the question the bot asked last, and what answers it.

When a reply asks something (how long, why, which model, confirm this quote), the dispatcher
keeps a ``PendingStep`` for that user; the next plain message is read as the answer before it
is read as a command. One mechanism for every front end, because all of them call the same
``Dispatcher``. Steps live in the key-value table (core/services/kv.py), like the other state a
front end keeps across restarts, so an answer still fits after the process restarted; each
expires after ``PENDING_TTL_S``. Only private chats ask and answer: group chatter is never
read as an answer (Telegram ignores it anyway and Discord cannot see it).

Every update of a user asks whether a step is pending, and nearly always none is. A front end
that is the only receiver of its platform's updates (Telegram polling: Telegram hands each
update to one ``getUpdates`` caller, and docs/production.md runs it in one process) is the only
writer of its users' steps, so it may ``remember`` them: each user's step is read from the
table once and then kept in memory, which answers from then on; the table is read again only
after a restart. Its writes are grouped (write-behind): a step is in memory at once, and the
steps asked or cleared while a write is in flight go together in the next transaction, as the
update ledger groups its claims, instead of a write transaction for each quote, cancel or
question; a write waits ``WRITE_BEHIND_S`` for the steps of the updates running with it. A
crash can lose the steps of the last write in flight (milliseconds; the user asks again); a
failed write is tried again with the next one, and ``flush`` writes what is left at shutdown.
Front ends that share their users with other processes (webhooks behind a load balancer) read
and write the table every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bot.common.i18n import t
from bot.common.reply import Button, Reply
from core import grammar as g
from core.errors import AmbiguousChoice, GrammarError
from core.services.kv import KeyValueService
from core.services.views import Principal

log = logging.getLogger(__name__)
PENDING_TTL_S = 15 * 60  # a question older than this is forgotten; the quote lasts as long
# How long a remembered step waits to be written with the steps asked after it: memory answers
# meanwhile, so only a crash within that moment could lose it (the user asks again).
WRITE_BEHIND_S = 0.02

# what each step waits for
COMPLETE = "complete"  # data: the command line that lacked something, the retry text's key
REASON = "reason"  # data: the rental reference ("" for the latest) of a dispute
CHOICE = "choice"  # data: the lines the choices stand for, one per choice
QUOTE = "quote"  # data: the quote's rental id
CONFIRM = "confirm"  # data: the command line that goes ahead (a price or removal to confirm)

# grammar questions whose answer completes the line: what to say when it does not
INCOMPLETE = {
    "grammar.rent_how_long": "ask.duration_again",
    "grammar.rent_what": "ask.rent_again",
    "grammar.rent_which": "ask.gpu_again",
    "grammar.extend_how_long": "ask.duration_again",
}
YES = frozenset({"yes", "y", "ok", "okay", "confirm", "ja", "j", "bestätigen", "bestaetigen"})
NO = frozenset({"no", "n", "cancel", "nein", "abbrechen", "verwerfen"})
CHEAPER = frozenset({"cheaper", "billiger", "günstiger", "guenstiger"})


@dataclass(frozen=True, slots=True)
class PendingStep:
    kind: str
    data: tuple[str, ...]
    labels: tuple[str, ...] = ()  # the choices as shown (CHOICE)
    expires_at: int = 0


def _key(who: Principal) -> str:
    return f"ask:{who.platform}:{who.user_id}"


def answer_word(text: str) -> str:
    """The answer as one comparable word: "Yes!" -> "yes", "Bestätigen" -> "bestätigen"."""
    return text.strip().strip(".!?").casefold()


REMEMBERED_USERS = 100_000  # steps kept in memory (``remember``); more start over


class Conversation:
    """The pending step of each user, kept in the key-value table (and, with ``remember``,
    in memory as well)."""

    def __init__(
        self, kv: KeyValueService, now: Callable[[], int], *, remember: bool = False
    ) -> None:
        self.kv = kv
        self.now = now
        self.remember = remember
        self._known: dict[str, PendingStep | None] = {}  # by key; None: no step
        self._unwritten: dict[str, PendingStep | None] = {}  # remembered, not in the table yet
        self._writer: asyncio.Task[None] | None = None

    async def ask(
        self, who: Principal, kind: str, data: tuple[str, ...], labels: tuple[str, ...] = ()
    ) -> None:
        """Keep the question asked (in a private chat only), replacing any before it."""
        if not who.private_chat:
            return
        step = PendingStep(kind, tuple(data), tuple(labels), self.now() + PENDING_TTL_S)
        await self._write(_key(who), step)

    async def pending(self, who: Principal) -> PendingStep | None:
        """The step waiting for this user's answer; None when none is, or it expired. A
        damaged record reads as none (the next question replaces it)."""
        if not who.private_chat:
            return None
        key = _key(who)
        if key in self._unwritten:
            step = self._unwritten[key]
        elif self.remember and key in self._known:
            step = self._known[key]
        else:
            step = _decoded(await self.kv.get(key))
            self._keep(key, step)
        return step if step is not None and step.expires_at > self.now() else None

    async def forget(self, who: Principal) -> bool:
        """End the pending step; True when there was one."""
        had = await self.pending(who) is not None
        if had:
            await self.clear(who)
        return had

    async def clear(self, who: Principal) -> None:
        """End the pending step the caller knows is there."""
        await self._write(_key(who), None)

    async def flush(self) -> None:
        """Write the remembered steps not written yet (at shutdown); raises what the
        database raises."""
        with contextlib.suppress(Exception):
            if self._writer is not None:
                await asyncio.shield(self._writer)
        if self._unwritten:
            await self._write_unwritten()

    async def _write(self, key: str, step: PendingStep | None) -> None:
        if not self.remember:
            await self.kv.put(key, _encoded(step))
            return
        self._keep(key, step)
        self._unwritten[key] = step
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_behind())

    async def _write_behind(self) -> None:
        while self._unwritten:
            await asyncio.sleep(WRITE_BEHIND_S)  # the steps asked meanwhile join the group
            try:
                await self._write_unwritten()
            except Exception:  # memory still answers; tried again with the next write
                log.exception("could not write %d pending questions", len(self._unwritten))
                return

    async def _write_unwritten(self) -> None:
        batch, self._unwritten = self._unwritten, {}
        try:
            await self.kv.put_many({key: _encoded(step) for key, step in batch.items()})
        except BaseException:
            for key, step in batch.items():  # a step asked since is newer: it stays
                self._unwritten.setdefault(key, step)
            raise

    def _keep(self, key: str, step: PendingStep | None) -> None:
        if not self.remember:
            return
        if len(self._known) >= REMEMBERED_USERS:
            self._known.clear()
        self._known[key] = step


def _encoded(step: PendingStep | None) -> str:
    return json.dumps(asdict(step)) if step is not None else ""


def _decoded(raw: str | None) -> PendingStep | None:
    """The stored step; a damaged record reads as none (the next question replaces it)."""
    if not raw:
        return None
    try:
        d = json.loads(raw)
        return PendingStep(
            str(d["kind"]),
            tuple(str(x) for x in d["data"]),
            tuple(str(x) for x in d.get("labels", ())),
            int(d["expires_at"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    """What an answer comes to: a command, a whole line to read again, or a button's action;
    ``done`` ends the step (Cheaper keeps a quote open, so it is not)."""

    command: g.Command | None = None
    line: str = ""
    action: str | None = None
    done: bool = True
    said: str = ""  # a catalogue key: the whole reply (no, to a question that changed nothing)


def resolve(step: PendingStep, line: str) -> Answer | None:
    """What ``line`` means as the answer to ``step``; None when it answers nothing."""
    word = answer_word(line)
    if step.kind == REASON and line:
        reason = line[: g.MAX_FREE_TEXT_CHARS]
        return Answer(command=g.Dispute(rental_ref=step.data[0] or None, reason=reason))
    if step.kind == COMPLETE:  # the answer completes the command line asked about
        whole = f"{step.data[0]} {line}"
        try:
            g.parse(whole)
        except AmbiguousChoice:
            pass  # still an answer: which of the models follows
        except GrammarError as exc:
            if exc.key not in INCOMPLETE:  # still incomplete is fine: it is asked again
                return None
        return Answer(line=whole)
    if step.kind == CHOICE:
        picked = _pick(word, step.labels)
        return None if picked is None else Answer(line=step.data[picked])
    if step.kind == CONFIRM:
        if word in YES:
            return Answer(line=step.data[0])
        return Answer(said="ask.not_confirmed") if word in NO else None
    if step.kind == QUOTE:
        for words, verb in ((YES, "confirm"), (NO, "cancel"), (CHEAPER, "cheaper")):
            if word in words:
                return Answer(action=f"{verb}:{step.data[0]}", done=verb != "cheaper")
    return None


def expected(lang: str, step: PendingStep) -> Reply:
    """An answer that does not fit: say what was asked, and keep asking."""
    if step.kind == CHOICE:
        text = t(lang, "ask.choice_again", choices=numbered(step.labels))
        buttons = tuple(Button(c, "text:" + x) for c, x in zip(step.labels, step.data, strict=True))
        return Reply(text, buttons=buttons, error=True)
    if step.kind == QUOTE:
        rental_id = int(step.data[0])
        return Reply(
            t(lang, "ask.quote_again", rental_id=rental_id),
            buttons=quote_buttons(lang, rental_id),
            error=True,
        )
    if step.kind == REASON:
        return Reply(t(lang, "ask.reason"), error=True)
    if step.kind == CONFIRM:
        button = Button(t(lang, "ask.yes"), "text:" + step.data[0])
        return Reply(t(lang, "ask.confirm_again"), buttons=(button,), error=True)
    return Reply(t(lang, step.data[1]), error=True)


def quote_buttons(lang: str, rental_id: int) -> tuple[Button, ...]:
    return (
        Button(t(lang, "quote.confirm"), f"confirm:{rental_id}"),
        Button(t(lang, "quote.cheaper"), f"cheaper:{rental_id}"),
        Button(t(lang, "quote.cancel"), f"cancel:{rental_id}"),
    )


def numbered(labels: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"{i}) {label}" for i, label in enumerate(labels, 1))


def _pick(word: str, labels: tuple[str, ...]) -> int | None:
    """Which choice an answer names: its number ("2") or its name ("a100 80gb")."""
    if word.isdigit() and 1 <= int(word) <= len(labels):
        return int(word) - 1
    squeeze = word.replace(" ", "").replace("-", "")
    for i, label in enumerate(labels):
        if squeeze == label.casefold().replace(" ", "").replace("-", ""):
            return i
    return None
