"""The one command dispatcher behind every front end: parse, call ONE service, render.

Telegram, Discord and the terminal all call ``Dispatcher``; they only adapt input and output
(buttons, files, private delivery). The same input therefore gives the same core call and the
same text everywhere, which the parity test holds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable

from bot.common import conversation as ask
from bot.common import render, wallet_render
from bot.common.chart import status_chart
from bot.common.conversation import Conversation, PendingStep, expected, quote_buttons
from bot.common.dispatch_provider import connect_reply, provider_reply
from bot.common.help import help_text
from bot.common.i18n import error_text, t
from bot.common.reply import Button, Reply
from bot.common.services import ChatServices
from bot.common.wallet_links import QR_FILE, qr_png, universal_links
from core import grammar as g
from core.domain.gpus import lookup
from core.domain.instances import InstanceAsk, parse_image
from core.domain.listings import ListingQuery
from core.domain.rentals import LIVE
from core.errors import AmbiguousChoice, CoreError, GrammarError, JustTaken, NoOffer
from core.grammar.typed import Values
from core.services.views import PaymentPendingView, Principal, QuoteView, RentalView, WalletLinkView

log = logging.getLogger(__name__)


def _expired() -> CoreError:
    return CoreError.keyed("button.expired")


_UNREAD = object()  # the pending step was not read yet


class Dispatcher:
    def __init__(self, app: ChatServices, *, sole_receiver: bool = False) -> None:
        """``sole_receiver``: no other process receives this front end's updates, so the
        users' pending questions may be kept in memory (``Conversation``)."""
        self.app = app
        self.talk = Conversation(app.kv, app.clock.now, remember=sole_receiver)

    async def handle_text(self, who: Principal, text: str) -> Reply:
        """Parse one chat line and answer it (or the question asked before); never raises."""
        return await self._asked(who, await self._safe(who, self._text(who, text)))

    async def handle_command(self, who: Principal, cmd: g.Command) -> Reply:
        """Answer a command parsed already (a front end's follow-up step); never raises."""
        return await self._asked(who, await self._safe(who, self._command(who, cmd)))

    async def handle_action(self, who: Principal, action: str) -> Reply:
        """Answer a button press; never raises."""
        return await self._asked(who, await self._safe(who, self._action(who, action)))

    async def _command(
        self, who: Principal, cmd: g.Command, step: PendingStep | None | object = _UNREAD
    ) -> Reply:
        """A new command replaces the question asked before. The question is forgotten after
        the command is answered, and only when the reply asks nothing new (``_asked`` then
        writes the new question over it): one write instead of two. ``step``: the pending
        step the caller read already (one read instead of two)."""
        if isinstance(cmd, g.Cancel):  # it ends the question asked: not forgotten first
            return await self._cancel(who)
        had = (await self.talk.pending(who) if step is _UNREAD else step) is not None
        try:
            reply = await self.handle(who, cmd)
        except BaseException:
            if had:
                await self.talk.clear(who)
            raise
        if had and (reply.meta.get("ask") is None or not who.private_chat):
            await self.talk.clear(who)
        return reply

    async def _asked(self, who: Principal, reply: Reply) -> Reply:
        """Keep the question a reply asks, so that the next plain message answers it."""
        step = reply.meta.get("ask")
        if step is not None:
            try:
                await self.talk.ask(who, *step)
            except Exception:  # the reply still goes out; only the follow-up is lost
                log.exception("could not keep the question for user %s", who.user_id)
        return reply

    async def handle_options(self, who: Principal, name: str, values: Values) -> Reply:
        """Answer a command given as typed option values (Discord slash commands): built
        through the registry's value parsers, refused like the same words typed; never raises."""
        return await self._asked(who, await self._safe(who, self._options(who, name, values)))

    async def _options(self, who: Principal, name: str, values: Values) -> Reply:
        try:
            cmd = g.build_options(name, values)
        except GrammarError as exc:
            return self._refused(who, exc, g.text_of(name, values), None)
        return await self._command(who, cmd)

    async def _text(self, who: Principal, text: str) -> Reply:
        line = text.strip()
        head = line.split(maxsplit=1)[0] if line else ""
        if head.startswith("/") and g.command_name(head[1:].split("@")[0]) == "cancel":
            return await self._cancel(who)
        step = await self.talk.pending(who)
        if step is not None and not line.startswith("/"):
            reply = await self._answer(who, step, line)
            if reply is not None:
                return reply
        try:
            cmd = g.parse(text)
        except GrammarError as exc:
            return self._refused(who, exc, text, step)
        return await self._command(who, cmd, step)

    def _refused(
        self, who: Principal, exc: GrammarError, text: str, step: PendingStep | None
    ) -> Reply:
        """The grammar's answer to ``text``: the choices of an ambiguous GPU as buttons, the
        question an incomplete command asks, or the error; raises what it cannot answer."""
        line = text.strip()
        if isinstance(exc, AmbiguousChoice):
            # each choice is a button that re-sends the line with that model spelled out
            tokens = text.split()
            ambiguous = [i for i, tok in enumerate(tokens) if len(lookup(tok)) > 1]
            if not ambiguous:
                raise exc
            i = ambiguous[0]
            lines = tuple(" ".join(tokens[:i] + [c] + tokens[i + 1 :]) for c in exc.choices)
            buttons = tuple(Button(c, "text:" + x) for c, x in zip(exc.choices, lines, strict=True))
            hint = t(who.lang, "ask.choice", choices=ask.numbered(exc.choices))
            return Reply(
                _with_hint(error_text(who.lang, exc), hint, who),
                buttons=buttons,
                error=True,
                meta={"ask": (ask.CHOICE, lines, tuple(exc.choices))},
            )
        if step is not None and not line.startswith("/"):
            return expected(who.lang, step)  # neither an answer nor a command
        again = ask.INCOMPLETE.get(exc.key or "")
        if again is None:
            raise exc
        return Reply(  # the grammar's question, and that the answer alone will do
            _with_hint(error_text(who.lang, exc), t(who.lang, "ask.answer_next"), who),
            error=True,
            meta={"ask": (ask.COMPLETE, (line, again), ())},
        )

    async def _cancel(self, who: Principal) -> Reply:
        """/cancel: end the question asked (and the quote it was about)."""
        step = await self.talk.pending(who)
        if step is None:
            return Reply(t(who.lang, "ask.nothing_to_cancel"), core_call="-")
        await self.talk.forget(who)
        if step.kind == ask.QUOTE:
            return await self._action(who, f"cancel:{step.data[0]}")
        key = "ask.no_dispute" if step.kind == ask.REASON else "ask.cancelled"
        return Reply(t(who.lang, key), core_call="-")

    async def _answer(self, who: Principal, step: PendingStep, line: str) -> Reply | None:
        """The reply to ``line`` read as the answer to ``step``; None when it is no answer
        (the caller then reads it as a command, or says what was expected)."""
        answer = ask.resolve(step, line)
        if answer is None:
            return None
        if answer.done:
            await self.talk.forget(who)
        if answer.said:
            return Reply(t(who.lang, answer.said), core_call="-")
        if answer.command is not None:
            return await self.handle(who, answer.command)
        if answer.action is not None:
            return await self._action(who, answer.action)
        return await self._text(who, answer.line)

    async def handle(self, who: Principal, cmd: g.Command) -> Reply:  # noqa: C901 - a table
        a, lang = self.app, who.lang
        match cmd:
            case g.Start():
                return Reply(t(lang, "help.start"), core_call="-")
            case g.Help(topic=topic):
                return Reply(help_text(lang, topic), core_call="-")
            case g.Gpus(filters=f, sort=sort, page=page):
                query = ListingQuery(
                    model=f.model,
                    min_vram_gb=f.min_vram_gb,
                    max_vram_gb=f.max_vram_gb,
                    max_price_per_hour=f.max_price_per_hour,
                    region=f.region,
                    min_reliability_bps=f.min_reliability * 100
                    if f.min_reliability is not None
                    else None,
                    verified_only=f.verified_only,
                    sort=sort,
                    min_ram_gb=f.min_ram_gb,
                    min_disk_gb=f.min_disk_gb,
                    min_cpu_cores=f.min_cpu_cores,
                    min_cuda=f.min_cuda,
                )
                view = await a.market.search(who, query, page)
                return Reply(
                    render.search_page(lang, view),
                    core_call="market.search",
                    meta={"page": view.page, "has_more": view.has_more},
                )
            case g.RentArgs():
                query = ListingQuery(
                    model=cmd.model,
                    gpu_count=cmd.count,
                    max_price_per_hour=cmd.max_price_per_hour,
                    region=cmd.region,
                    listing_id=cmd.listing,
                    instance=InstanceAsk(
                        template=cmd.template,
                        image=parse_image(cmd.image) if cmd.image else None,
                        ports=cmd.ports,
                        disk_gb=cmd.disk_gb,
                    ),
                )
                q = await a.market.quote(who, query, cmd.duration_s)
                return self._quote_reply(lang, q, "market.quote")
            case g.Templates(model=model, listing=listing):
                offered = await a.market.templates(who, model, listing)
                return Reply(render.templates(lang, offered), core_call="market.templates")
            case g.Status(rental_ref=ref):
                return self._status_reply(lang, await a.rentals.status(who, ref))
            case g.Extend(duration_s=d, rental_ref=ref):
                p = await a.rentals.extend(who, ref, d)
                return self._pay_reply(lang, p, "extend", "rentals.extend")
            case g.Stop(rental_ref=ref):
                p = await a.rentals.stop(who, ref)
                return self._pay_reply(lang, p, "stop", "rentals.stop")
            case g.Receipts(export_csv=csv):
                kept = await a.receipts.list(who, csv)
                files = (("rigshare-receipts.csv", kept.csv),) if kept.csv is not None else ()
                return Reply(
                    render.receipts(lang, kept),
                    private=True,
                    files=files,
                    core_call="receipts.list",
                )
            case g.Dispute(rental_ref=ref, reason=reason):
                # ask for it where the next message can answer; a group gets the service's hint
                if not (reason or "").strip() and who.private_chat:
                    await a.rentals.check_disputable(who, ref)  # not asked, then refused
                    return Reply(
                        t(lang, "ask.reason"),
                        core_call="-",
                        meta={"ask": (ask.REASON, (ref or "",))},
                    )
                p = await a.rentals.dispute(who, ref, reason)
                return self._pay_reply(lang, p, "dispute", "rentals.dispute")
            case g.Rate(rental_ref=ref, stars=stars, comment=comment):
                n = await a.rentals.rate(who, ref, stars, comment)
                return Reply(render.notice(lang, n), core_call="rentals.rate")
            case g.Connect(action=action):
                return await connect_reply(self, who, action)
            case g.SshKey(public_key=key):
                n = await a.users.set_ssh_key(who, key)
                return Reply(render.notice(lang, n), private=True, core_call="users.set_ssh_key")
            case g.Lang(lang=new):
                n = await a.users.set_lang(who, new)
                return Reply(render.notice(new or lang, n), core_call="users.set_lang")
        return await provider_reply(self, who, cmd)

    async def _action(self, who: Principal, action: str) -> Reply:
        verb, _, arg = action.partition(":")
        a, lang = self.app, who.lang
        if verb == "text":
            return await self._text(who, arg)
        if not arg.isdigit() or len(arg) > 12:
            raise _expired()
        rental_id = int(arg)
        if verb == "evidence":
            views = await a.agent_commands.evidence_for(who, rental_id)
            return Reply(
                render.evidence(lang, rental_id, views),
                private=True,
                core_call="agent_commands.evidence_for",
            )
        if verb in ("confirm", "cancel"):
            await self.talk.forget(who)  # the quote asked about is answered
        if verb == "confirm":
            p = await a.rentals.confirm(who, rental_id)
            if isinstance(p, WalletLinkView):  # no wallet yet: link it, the confirm follows
                return self._link_reply(lang, p, "rentals.confirm")
            return self._pay_reply(lang, p, "open", "rentals.confirm")
        if verb == "cancel":
            n = await a.rentals.cancel_quote(who, rental_id)
            return Reply(render.notice(lang, n), core_call="rentals.cancel_quote")
        if verb == "cheaper":
            try:
                q = await a.market.cheaper(who, rental_id)
            except NoOffer:  # the quote is the cheapest: it stays, and so do its buttons
                return Reply(
                    t(lang, "ask.nothing_cheaper", rental_id=rental_id),
                    buttons=quote_buttons(lang, rental_id),
                    error=True,
                    core_call="market.cheaper",
                    meta={"ask": (ask.QUOTE, (str(rental_id),))},
                )
            return self._quote_reply(lang, q, "market.cheaper")
        if verb == "extend":
            p = await a.rentals.extend(who, arg, 3600)
            return self._pay_reply(lang, p, "extend", "rentals.extend")
        raise _expired()

    def _status_reply(self, lang: str, view: RentalView) -> Reply:
        text = render.rental(lang, view)
        png = status_chart(view.history, view.now)
        if png is not None:
            text += "\n" + t(lang, "status.chart")
        return Reply(
            text,
            files=((f"rental-{view.rental_id}.png", png),) if png is not None else (),
            core_call="rentals.status",
            meta={
                "rental_id": view.rental_id,
                "state": view.state,
                "live": view.state in LIVE and view.ended_at is None,
            },
        )

    def _quote_reply(self, lang: str, q: QuoteView, call: str) -> Reply:
        return Reply(
            render.quote(lang, q),
            buttons=quote_buttons(lang, q.rental_id),
            core_call=call,
            meta={"rental_id": q.rental_id, "ask": (ask.QUOTE, (str(q.rental_id),))},
        )

    def _pay_reply(self, lang: str, p: PaymentPendingView, kind: str, call: str) -> Reply:
        return Reply(
            render.payment(lang, p, kind),
            buttons=_wallet_buttons(lang, p.wc_uri, p.url),
            private=True,
            files=_qr(p.wc_uri),
            core_call=call,
            meta={"rental_id": p.rental_id, "url": p.url, "wc_uri": p.wc_uri},
        )

    def _link_reply(self, lang: str, v: WalletLinkView, call: str) -> Reply:
        """A wallet connect or payout proof: wallet buttons, the signing page and a QR."""
        return Reply(
            wallet_render.link_request(lang, v),
            buttons=_wallet_buttons(lang, v.wc_uri, v.url),
            private=True,
            files=_qr(v.wc_uri),
            core_call=call,
            meta={"rental_id": v.rental_id, "url": v.url, "wc_uri": v.wc_uri},
        )

    async def _safe(self, who: Principal, work: Awaitable[Reply]) -> Reply:
        try:
            return await work
        except JustTaken as exc:
            text = error_text(who.lang, exc)  # just taken, or withdrawn by its host
            if exc.next_best is None:
                return Reply(text, error=True, core_call="rentals.confirm")
            nxt = self._quote_reply(who.lang, exc.next_best, "rentals.confirm")
            return Reply(
                f"{text}\n{t(who.lang, 'quote.next_best')}\n{nxt.text}",
                buttons=nxt.buttons,
                error=True,
                core_call="rentals.confirm",
                meta=nxt.meta,
            )
        except CoreError as exc:
            return Reply(error_text(who.lang, exc), error=True)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("unexpected error (ref %s)", ref)
            return Reply(t(who.lang, "error.generic", ref=ref), error=True)


def _wallet_buttons(lang: str, wc_uri: str | None, url: str) -> tuple[Button, ...]:
    """One universal-link button per wallet for a new pairing, then the signing page."""
    wallets = () if wc_uri is None else universal_links(wc_uri)
    return tuple(
        Button(t(lang, "pay.wallet_button", wallet=name), f"url:{link}") for name, link in wallets
    ) + (Button(t(lang, "pay.sign_browser"), f"url:{url}"),)


def _qr(wc_uri: str | None) -> tuple[tuple[str, bytes], ...]:
    """The pairing as a QR code to scan with a wallet on another device."""
    return () if wc_uri is None else ((QR_FILE, qr_png(wc_uri)),)


def _with_hint(text: str, hint: str, who: Principal) -> str:
    """The question, and how to answer it, where a plain message can (a private chat)."""
    return f"{text}\n{hint}" if who.private_chat else text
