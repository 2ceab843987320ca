"""Replies for ``Dispatcher.handle``: the provider commands (private chats only) and /connect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.common import conversation as ask
from bot.common import render, wallet_render
from bot.common.i18n import error_text, t
from bot.common.reply import Button, Reply
from core import grammar as g
from core.errors import ValidationError
from core.services.views import Principal

if TYPE_CHECKING:
    from bot.common.dispatch import Dispatcher

# a likely slip that changed nothing: one press does it anyway (the "again" of the error)
_CONFIRMABLE = {
    "providers.price_high": ("machines.price_confirm", "price"),
    "providers.price_jump": ("machines.price_confirm", "price"),
    "providers.remove_confirm": ("machines.remove_confirm", "removemachine"),
}


def _confirm(lang: str, exc: ValidationError) -> Reply:
    if exc.key not in _CONFIRMABLE:
        raise exc
    label, command = _CONFIRMABLE[exc.key]
    line = f"/{command} {exc.params['again']}"
    return Reply(  # provider commands answer in private chats only: "yes" may answer it
        f"{error_text(lang, exc)}\n{t(lang, 'ask.confirm_next')}",
        buttons=(Button(t(lang, label), f"text:{line}"),),
        private=True,
        error=True,
        meta={"ask": (ask.CONFIRM, (line,))},
    )


async def provider_reply(d: Dispatcher, who: Principal, cmd: g.Command) -> Reply:
    a, lang = d.app, who.lang
    match cmd:
        case g.Register(payout_address=address):
            link = await a.providers.register(who, address)
            return d._link_reply(lang, link, "providers.register")
        case g.AddMachine(machine=name, region=region):
            v = await a.providers.add_machine(who, name, region)
            call, text = "providers.add_machine", render.agent_token(lang, v)
        case g.RotateToken(machine=name):
            v = await a.providers.rotate_token(who, name)
            text = t(lang, "machines.token_rotated", name=v.machine_name, command=v.command)
            call = "providers.rotate_token"
        case g.Machines():
            call = "providers.machines"
            text = render.machines(lang, await a.providers.machines(who))
        case g.Price(machine=name, price_per_hour=price, model=model, confirmed=sure):
            try:
                n = await a.providers.set_price(who, name, price, model, confirmed=sure)
            except ValidationError as exc:
                return _confirm(lang, exc)
            call, text = "providers.set_price", render.notice(lang, n)
        case g.RemoveMachine(machine=name, confirmed=sure):
            try:
                n = await a.providers.remove_machine(who, name, confirmed=sure)
            except ValidationError as exc:
                return _confirm(lang, exc)
            call, text = "providers.remove_machine", render.notice(lang, n)
        case g.Pause(machine=name) | g.Resume(machine=name):
            n = await a.providers.pause(who, name, paused=isinstance(cmd, g.Pause))
            call, text = "providers.pause", render.notice(lang, n)
        case g.Earnings():
            call = "providers.earnings"
            text = render.earnings(lang, await a.providers.earnings(who))
        case _:
            raise AssertionError(f"unhandled command {cmd!r}")
    return Reply(text, private=True, core_call=call)


async def connect_reply(d: Dispatcher, who: Principal, action: str | None) -> Reply:
    """/connect shows the linked wallet (or links one); switch links another;
    disconnect forgets it."""
    a, lang = d.app, who.lang
    if action == "disconnect":
        address = await a.wallets.disconnect(who)
        key = "connect.disconnected" if address else "connect.nothing"
        return Reply(t(lang, key, address=address), private=True, core_call="wallets.disconnect")
    if action != "switch":
        view = await a.wallets.account(who)
        if view.address is not None:
            return Reply(
                wallet_render.account(lang, view),
                buttons=(
                    Button(t(lang, "connect.switch"), "text:/connect switch"),
                    Button(t(lang, "connect.disconnect"), "text:/connect disconnect"),
                ),
                private=True,
                core_call="wallets.account",
                meta={"address": view.address},
            )
    return d._link_reply(lang, await a.wallets.connect(who), "wallets.connect")
