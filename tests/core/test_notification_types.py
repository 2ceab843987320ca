"""Notifications are types (core.notifications): every registered kind survives the outbox's
JSON and has a text in English and German; what a full rental flow queues is registered;
a stored row that does not decode is dead-lettered by the sender, the others still go out."""

from __future__ import annotations

import json
import logging

import pytest

from bot.common.outbox import OutboxSender, SendLimits
from bot.common.render_notices import RENDERERS, text
from core.domain.model import OutboxMessage
from core.notifications import KINDS, MalformedNotification, from_payload, to_payload
from core.notifications import providers as p
from core.notifications import rentals as r
from core.notifications import wallet as w
from core.ports import OutgoingMessage
from core.services.base import enqueue
from core.services.notifications import NEVER
from core.services.views import InstanceView, OfferView, QuoteView, ReceiptView
from tests.support import add_provider, paid_quote

TX = "0x" + "ab" * 32
RECEIPT = ReceiptView(3, "RTX 4090", 1, "settled", 1_790_000_000, 1_790_003_600, 3600, 350_000,
                      1_050_000, 350_000, 42_000, 1200, 308_000, 700_000,
                      (("open", TX), ("settle", TX)))  # fmt: skip
OFFER = OfferView(3, "rtx4090", "RTX 4090", 1, 24, 900_000, 900_000, "eu", 9500, True, "box")
QUOTE = QuoteView(9, OFFER, 3600, 900_000, 1200, 1_790_000_300,
                  instance=InstanceView("pytorch/pytorch:2", None, True, (8888,), 8000, 32768, 50))  # fmt: skip
SAMPLES = [
    r.PaymentSeen(3, 1_050_000, TX),
    r.PrivateKey(3, "-----BEGIN OPENSSH PRIVATE KEY-----"),
    r.CredentialsReady(3, "rs-3", "gpu.example", 2222, "SHA256:abc", 1_790_010_800, True),
    r.CredentialsReady(
        3,
        "root",
        "gpu.example",
        2222,
        "SHA256:abc",
        1_790_010_800,
        gpu_uuids=("GPU-a",),
        image="x:1",
        ports=((8080, 32768),),
        jupyter_port=8888,
        jupyter_token="tok",
        instance=True,
    ),  # fmt: skip
    r.EndingSoon(3, 1_790_010_800),
    r.Extended(3, 1_790_014_400, TX),
    r.RentalEnded(3, 1_790_003_600, 1_790_090_000),
    r.RentalSettled(3, RECEIPT),
    r.DisputeSettled(3, RECEIPT),
    r.Refunded(3, RECEIPT),
    r.DisputeOpened(3, TX, 1_790_003_600),
    r.DisputeDecided(3, 350_000, 300_000, 50_000),
    r.ProviderDisputeDecided(3, 350_000, 300_000, 50_000),
    r.SetupFailed(3, "image", "docker.io/library/x:1"),
    r.SignatureExpired(3),
    w.WalletConnected("0x" + "ab" * 20),
    w.WalletDisconnected("session expired"),
    w.PaymentRequested(7, 650_000, "Authorize 0.65", "http://x/sign/t", 1_790_000_000, "wc:1"),
    w.ConfirmTaken(7, QUOTE),
    w.ConfirmFailed(7, "Quote expired.", "quote.expired", {"rental_id": 7}),
    w.PaymentFailed(7, "open", "Not enough USDC."),
    w.RequestExpired("stop", 7),
    w.SignatureFailed("connect", None, "no"),
    w.ProviderRegistered("0x" + "ab" * 20),
    w.PayoutUpdated("0x" + "ab" * 20),
    w.RegisterRefused("0x" + "ab" * 20, "other_wallet", "0x" + "cd" * 20),
    p.ProviderRentalStarted(3, "rtx4090"),
    p.ProviderRentalEnded(3, "rtx4090"),
    p.ProviderPaid(3, "rtx4090", 308_000),
    p.ProviderDisputeOpened(3, "rtx4090"),
    p.ProviderRefunded(3, "rtx4090", 0, "late_payment"),
    p.ProviderGrantFailed(3, "box1", "pull failed"),
    p.ProbePassed("box1"),
    p.ProbeFailed("box1", "no GPU seen"),
    p.ProbeUnchecked("box1", "no nvidia-smi"),
    p.AgentOffline("box1", 1_790_000_000),
    p.PayoutHeld(3, 308_000, "0xab", None, 120, "blocked"),
    p.RefundHeld(3, 700_000, "0xcd", "paused"),
    p.PayoutPaid(3, 308_000, "0xab", None, TX),
    p.RefundPaid(3, 700_000, "0xcd"),
]


def test_every_registered_kind_has_a_sample_and_a_text():
    assert {type(n) for n in SAMPLES} == set(KINDS.values())
    assert set(RENDERERS) == set(KINDS.values())
    assert all(KINDS[cls.KIND] is cls for cls in KINDS.values())


@pytest.mark.parametrize("n", SAMPLES, ids=lambda n: type(n).__name__)
def test_each_kind_round_trips_through_the_stored_json_and_renders_in_en_and_de(n):
    stored = json.loads(json.dumps(to_payload(n)))  # as the outbox row keeps it
    assert from_payload(n.KIND, stored) == n
    en, de = text(n, "en"), text(n, "de")
    assert en and de and en != de
    assert "{" not in en + de  # no placeholder left over


@pytest.mark.parametrize(
    ("kind", "payload", "why"),
    [
        ("no_such_kind", {"rental_id": 1}, "no such notification kind"),
        ("extended", {"rental_id": 1, "paid_until": 2}, "payload.tx is missing"),
        ("extended", {"rental_id": 1, "paid_until": 2, "tx": "0x", "x": 1}, "unknown fields"),
        ("extended", {"rental_id": 1, "paid_until": "soon", "tx": "0x"}, "not an integer"),
        ("payment_seen", {"rental_id": 1, "deposit": True, "tx": "0x"}, "not an integer"),
        ("receipt", {"rental_id": 1, "receipt": {"rental_id": 1}}, "receipt.gpu_name is missing"),
        ("credentials", ["a list"], "not an object"),
    ],
)
def test_a_payload_that_does_not_fit_its_type_is_refused_by_name(kind, payload, why):
    with pytest.raises(MalformedNotification, match=why):
        from_payload(kind, payload)


async def test_a_full_rental_queues_only_registered_kinds_that_decode(app):
    provider, _ = await add_provider(app, "prov", ["rtx4090"], 650_000)
    alice, quote = await paid_quote(app)
    await app.rentals.stop(alice, None)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    rows = [
        (kind, payload)
        for who in (alice, provider)
        for kind, payload, _ in await app.notifications.history(who.user_id)
    ]
    kinds = {kind for kind, _ in rows}
    assert {"payment_seen", "credentials", "receipt", "provider_payout"} <= kinds
    for kind, payload in rows:
        assert to_payload(from_payload(kind, payload)) == payload  # stored as its type stores it


class Recorder:
    platform = "test"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, message: OutgoingMessage) -> None:
        self.sent.append(message.text)


async def test_a_stored_row_that_does_not_decode_is_dead_lettered_and_the_rest_go_out(
    app, clock, caplog
):
    who = await app.users.identify("test", "ann", "ann", chat_id="ann")
    now = clock.now()
    async with app.notifications.uow() as uow:
        await enqueue(uow, r.Extended(1, now, TX), user_id=who.user_id, dedupe_key="a", now=now)
        for key, kind, payload in (
            ("bad:1", "extended", {"rental_id": 2, "paid_until": "soon", "tx": "0x"}),
            ("bad:2", "no_such_kind", {"rental_id": 3}),
        ):
            uow.session.add(OutboxMessage(who.user_id, kind, payload, key, now, now, True))
        await enqueue(uow, r.Extended(4, now, TX), user_id=who.user_id, dedupe_key="b", now=now)
        await uow.commit()
    notifier = Recorder()
    sender = OutboxSender(
        app.notifications, notifier, limits=SendLimits(per_second=1000.0, per_chat_interval_s=0)
    )
    with caplog.at_level(logging.ERROR):
        assert await sender.run_once() == 4
    assert [t.split(" ")[1] for t in notifier.sent] == ["#1", "#4"]
    async with app.notifications.uow(readonly=True) as uow:
        rows = await uow.outbox.for_user(who.user_id)
    bad = [row for row in rows if row.dedupe_key.startswith("bad")]
    assert len(bad) == 2
    for row in bad:
        assert row.sent_at is None and row.next_attempt_at == NEVER
        assert row.last_error.startswith("malformed: ")
    clock.advance(3600)
    assert await sender.run_once() == 0, "a dead letter is not tried again"
