"""Receipts as text: one rental's split to the micro-USDC, and the list of them."""

from __future__ import annotations

from bot.common import formats
from bot.common.formats import count_prefix as _count
from bot.common.formats import fee_percent as _pct_bps
from bot.common.formats import when
from bot.common.i18n import t, word
from core.services.views import ReceiptsView, ReceiptView

EXPLORERS = {137: "https://polygonscan.com/tx/", 80002: "https://amoy.polygonscan.com/tx/"}


def explorer_base(chain_id: int | None) -> str | None:
    """Where a transaction of this chain can be looked at (None: a development chain)."""
    return EXPLORERS.get(chain_id) if chain_id is not None else None


def receipt(lang: str, r: ReceiptView, explorer: str | None = None) -> str:
    places = formats.places_for(
        r.price_per_hour, r.deposit, r.billed, r.provider_net, r.fee, r.refund, r.refund_held
    )

    def usdc(micro: int) -> str:
        return formats.amount(lang, micro, places)

    lines = [
        t(
            lang,
            "receipt.body",
            rental_id=r.rental_id,
            state=word(lang, "state", r.state),
            count=_count(r.gpu_count),
            gpu=r.gpu_name,
            price_per_hour=formats.price(lang, r.price_per_hour, places),
            started=when(r.started_at),
            ended=when(r.ended_at),
            seconds=formats.count(lang, r.seconds_billed),
            deposit=usdc(r.deposit),
            billed=usdc(r.billed),
            provider_net=usdc(r.provider_net),
            fee=usdc(r.fee),
            fee_pct=_pct_bps(lang, r.fee_bps),
            refund=usdc(r.refund),
        )
    ]
    if r.refund_held:
        lines.append(t(lang, "receipt.refund_held", amount=usdc(r.refund_held)))
    if not _settled(r):
        lines.append(t(lang, "receipt.unsettled"))
    for label, h in r.tx_hashes:
        if explorer:
            lines.append(t(lang, "receipt.tx_link", label=label, hash=h, url=explorer + h))
        else:
            lines.append(t(lang, "receipt.tx", label=label, hash=h))
    if r.rating is not None:
        lines.append(t(lang, "receipt.rated", stars=r.rating))
    return "\n".join(lines)


def _settled(r: ReceiptView) -> bool:
    """Whether the escrow settled the rental (before that its amounts are only due)."""
    return any(label == "settle" for label, _ in r.tx_hashes)


def _refund_mark(lang: str, r: ReceiptView) -> str:
    if r.refund_held:
        return t(lang, "receipt.held_mark")
    return "" if _settled(r) else t(lang, "receipt.unsettled_mark")


def receipts(lang: str, view: ReceiptsView) -> str:
    if not view.receipts:
        return t(lang, "receipt.empty")
    lines = [t(lang, "receipt.list_header")]
    places = formats.places_for(*(x for r in view.receipts for x in (r.billed, r.refund)))
    for r in view.receipts:
        lines.append(
            t(
                lang,
                "receipt.list_row",
                rental_id=r.rental_id,
                count=_count(r.gpu_count),
                gpu=r.gpu_name,
                state=word(lang, "state", r.state),
                billed=formats.amount(lang, r.billed, places),
                refund=formats.amount(lang, r.refund, places) + _refund_mark(lang, r),
            )
        )
    if view.csv is not None:
        lines.append(t(lang, "receipt.csv_note", filename="rigshare-receipts.csv"))
    return "\n".join(lines)
