"""Receipts: what a finished rental cost, split to the micro-USDC, with its transactions."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from core.domain.billing import SECONDS_PER_HOUR, settle
from core.domain.model import Rental, stored_id
from core.domain.money import DECIMALS, format_decimal
from core.domain.rentals import RentalState as S
from core.errors import NotFound
from core.services.base import Service, gpu_name
from core.services.payouts import held_refunds
from core.services.views import Principal, ReceiptsView, ReceiptView

FINISHED = (S.SETTLED, S.RESOLVED, S.CANCELLED, S.ENDED, S.DISPUTED)


class ReceiptService(Service):
    async def list(self, who: Principal, export_csv: bool = False) -> ReceiptsView:
        """Receipts of the renter's paid rentals, newest first (CSV on request)."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.rentals.for_renter(who.user_id, FINISHED, limit=200)
            held = held_refunds(await uow.payouts.for_rentals([stored_id(r) for r in rows]))
        receipts = tuple(
            receipt_view(r, refund_held=held.get(stored_id(r), 0))
            for r in rows
            if r.funded_at is not None
        )
        return ReceiptsView(receipts, receipts_csv(receipts) if export_csv else None)

    async def one(self, who: Principal, rental_id: int) -> ReceiptView:
        """One receipt; NotFound if it is not the renter's paid rental."""
        async with self.uow(readonly=True) as uow:
            r = await uow.rentals.get(rental_id)
            held = held_refunds(await uow.payouts.for_rentals([rental_id]))
        if r is None or r.renter_id != who.user_id or r.funded_at is None:
            raise NotFound.keyed("receipts.none", rental_id=rental_id)
        return receipt_view(r, refund_held=held.get(rental_id, 0))


def receipt_view(r: Rental, *, refund_held: int = 0) -> ReceiptView:
    """The receipt of ``r``; ``refund_held``: how much of its refund the escrow still holds
    because the token refused the transfer (core.services.payouts)."""
    seconds = r.billable_seconds()  # 0 until it ended: a receipt bills what is over
    if r.billed is not None:
        billed, fee, net, refund = r.billed, r.fee or 0, r.provider_net or 0, r.refund or 0
    elif r.started_at is not None and r.ended_at is not None:
        # ended but not yet settled on chain: show what settlement will pay
        s = settle(
            deposit=r.deposit,
            price_per_hour=r.price_per_hour,
            fee_bps=r.fee_bps,
            started_at=r.started_at,
            ended_at=r.ended_at,
            paid_until=r.paid_until or r.ended_at,
        )
        billed, fee, net, refund = s.billed, s.fee, s.provider_net, s.refund
    else:
        billed, fee, net, refund = 0, 0, 0, r.deposit
    seconds = _seconds_paid(seconds, billed, r.price_per_hour)
    txs = tuple(
        (label, h)
        for label, h in (
            ("open", r.open_tx),
            ("start", r.start_tx),
            ("stop", r.stop_tx),
            ("settle", r.settle_tx),
        )
        if h
    )
    return ReceiptView(
        rental_id=stored_id(r),
        gpu_name=gpu_name(r.gpu_model),
        gpu_count=r.gpu_count,
        state=r.state,
        started_at=r.started_at,
        ended_at=r.ended_at,
        seconds_billed=seconds,
        price_per_hour=r.price_per_hour,
        deposit=r.deposit,
        billed=billed,
        fee=fee,
        fee_bps=r.fee_bps,
        provider_net=net,
        refund=refund,
        tx_hashes=txs,
        rating=r.rating,
        refund_held=refund_held,
    )


def _seconds_paid(seconds: int, billed: int, price_per_hour: int) -> int:
    """The seconds the bill pays for: all of them, unless a dispute awarded less (the time
    down is not billed), then the fewest seconds at the price that cost the bill."""
    if price_per_hour <= 0 or billed >= seconds * price_per_hour // SECONDS_PER_HOUR:
        return seconds
    return min(seconds, -(-billed * SECONDS_PER_HOUR // price_per_hour))


# Every column says its unit: amounts are exact decimal strings in USDC (six places, as the
# token counts), times ISO-8601 in UTC; a spreadsheet and the csv module read both as they are.
CSV_HEADER = (
    "rental",
    "gpu",
    "state",
    "started_at_utc",
    "ended_at_utc",
    "seconds_billed",
    "price_per_hour_usdc",
    "deposit_usdc",
    "billed_usdc",
    "fee_usdc",
    "provider_net_usdc",
    "refund_usdc",
    "refund_held_usdc",
    "transactions",
)


def _usdc(micro: int) -> str:
    return format_decimal(micro, DECIMALS, group="")


def _iso(ts: int | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def receipts_csv(receipts: Sequence[ReceiptView]) -> str:
    """CSV of the receipts (units in the header); ``refund_held_usdc`` is the part of the
    refund the escrow still holds (not paid yet); ``price_per_hour_usdc`` is for all the
    rented GPUs."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for r in receipts:
        w.writerow(
            [
                r.rental_id,
                f"{r.gpu_count}x {r.gpu_name}",
                r.state,
                _iso(r.started_at),
                _iso(r.ended_at),
                r.seconds_billed,
                *map(
                    _usdc,
                    (
                        r.price_per_hour,
                        r.deposit,
                        r.billed,
                        r.fee,
                        r.provider_net,
                        r.refund,
                        r.refund_held,
                    ),
                ),
                " ".join(f"{k}:{v}" for k, v in r.tx_hashes),
            ]
        )
    return out.getvalue()
