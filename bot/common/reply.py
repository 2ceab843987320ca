"""What the dispatcher answers: a text, its buttons and files, and how to deliver them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

# a question the next plain message answers: (kind, data[, labels]) as Conversation.ask takes
# them (bot.common.conversation names the kinds)
AskStep = tuple[str, tuple[str, ...]] | tuple[str, tuple[str, ...], tuple[str, ...]]


class ReplyMeta(TypedDict, total=False):
    """What a reply tells its front end besides the text (every key optional)."""

    ask: AskStep  # kept by the dispatcher, so that the next plain message answers it
    page: int  # /gpus: the page shown, and whether another follows (the paging buttons)
    has_more: bool
    rental_id: int | None  # the rental a quote, payment or status is about
    state: str  # /status: the rental's state, and whether it is still running
    live: bool
    url: str  # a signing request: the one-time page, and the WalletConnect pairing URI
    wc_uri: str | None
    address: str  # /register: the payout address to prove


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str  # "confirm:12", "cancel:12", "cheaper:12", "extend:12", "text:/rent ..."


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    private: bool = False  # holds a credential, key, token or wallet detail
    # (file name, content): text files as str; images (*.png) as bytes, shown as pictures
    files: tuple[tuple[str, str | bytes], ...] = ()
    core_call: str = ""  # the service method that answered (parity tests, metrics)
    error: bool = False
    meta: ReplyMeta = field(default_factory=lambda: ReplyMeta())
