"""Receipts and payout texts say "paid" or "refunded" only once the chain did: a refund the
token refused reads as held, amounts of a rental the escrow has not settled read as due."""

from __future__ import annotations

import pytest

from bot.common.render import outbox, receipts
from bot.common.render_receipts import receipt
from core.services.notifications import DueMessage
from core.services.views import ReceiptsView, ReceiptView
from tests.bot.receipt_samples import SETTLED, TX


def _view(**changes) -> ReceiptView:
    base = {
        "rental_id": 7,
        **SETTLED,
        "tx_hashes": (("open", TX), ("settle", TX)),
    }
    return ReceiptView(**{**base, **changes})


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_held_refund_is_marked_on_the_receipt_and_in_the_list(lang):
    held = _view(refund_held=700_000)
    text, row = receipt(lang, held), receipts(lang, ReceiptsView((held,)))
    mark = {"en": "held by the escrow", "de": "im Escrow gehalten"}[lang]
    assert mark in text and mark in row
    assert mark not in receipt(lang, _view()) + receipts(lang, ReceiptsView((_view(),)))


def test_an_unsettled_rental_shows_its_amounts_as_due_not_refunded():
    ended = _view(state="ended", tx_hashes=(("open", TX), ("stop", TX)))
    assert "Not settled yet" in receipt("en", ended)
    assert "refund 0.70 USDC (at settlement)" in receipts("en", ReceiptsView((ended,)))
    assert "Noch nicht abgerechnet" in receipt("de", ended)
    assert "Not settled yet" not in receipt("en", _view())


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_never_started_rental_whose_refund_is_held_is_not_called_refunded(lang):
    held = _view(refund_held=1_050_000)
    payload = {"rental_id": 7, "receipt": {f: getattr(held, f) for f in ReceiptView.__slots__}}
    text = outbox(DueMessage(1, 1, "telegram", "1", lang, "refunded", payload, True, 0))
    assert {"en": "refunded in full", "de": "voll erstattet"}[lang] not in text
    assert {"en": "the escrow holds it", "de": "der Escrow hält sie"}[lang] in text


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_dispute_decision_awards_and_leaves_paid_to_the_settlement(lang):
    payload = {
        "rental_id": 7,
        "billed": 350_000,
        "provider_gross": 300_000,
        "renter_credit": 50_000,
    }
    kind = "provider_dispute_decided"
    text = outbox(DueMessage(1, 1, "telegram", "1", lang, kind, payload, True, 0))
    assert {"en": "you are paid", "de": "du erhältst"}[lang] not in text
    assert {"en": "the payout follows", "de": "die Auszahlung folgt"}[lang] in text
