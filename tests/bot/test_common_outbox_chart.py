"""Platform-neutral pieces the chat front ends share: notification texts in the recipient's
language, the outbox sender's pacing, core errors in German, and the status chart PNG."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.common.chart import HEIGHT, LOAD, TEMP, WIDTH, status_chart
from bot.common.i18n import catalogue, error_text
from bot.common.outbox import OutboxSender, SendLimits, compose
from bot.common.render import explorer_base, outbox
from core import grammar as g
from core.errors import CoreError, GrammarError
from core.services.notifications import DueMessage
from tests.bot.receipt_samples import SETTLED, TX

RECEIPT = {
    "rental_id": 3,
    **SETTLED,
    "tx_hashes": [["open", TX], ["settle", TX]],
    "rating": None,
}
PAYLOADS = {
    "payment_seen": {"rental_id": 3, "deposit": 1_050_000, "tx": TX},
    "private_key": {"rental_id": 3, "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----"},
    "credentials": {
        "rental_id": 3,
        "username": "rs-3",
        "host": "gpu.example",
        "port": 2222,
        "host_key_fingerprint": "SHA256:abc",
        "paid_until": 1_790_010_800,
        "key_generated": True,
    },
    "ending_soon": {"rental_id": 3, "paid_until": 1_790_010_800},
    "extended": {"rental_id": 3, "paid_until": 1_790_014_400, "tx": TX},
    "rental_ended": {"rental_id": 3, "ended_at": 1_790_003_600, "settle_by": 1_790_090_000},
    "receipt": {"rental_id": 3, "receipt": RECEIPT},
    "refunded": {"rental_id": 3, "receipt": RECEIPT},
    "dispute_opened": {"rental_id": 3, "tx": TX},
    "dispute_resolved": {"rental_id": 3, "receipt": RECEIPT},
    "signature_failed": {"rental_id": 3, "kind": "open", "reason": "rejected"},
    "signature_expired": {"rental_id": 3},
    "payment_failed": {"rental_id": 3, "kind": "open", "reason": "Not enough USDC."},
    "provider_rental_started": {"rental_id": 3, "gpu_model": "rtx4090", "provider_net": None},
    "provider_rental_ended": {"rental_id": 3, "gpu_model": "rtx4090", "provider_net": None},
    "provider_payout": {"rental_id": 3, "gpu_model": "rtx4090", "provider_net": 308_000},
    "provider_dispute": {"rental_id": 3, "gpu_model": "rtx4090", "provider_net": None},
    "provider_agent_offline": {"machine": "box1", "last_seen": 1_790_000_000},
    "setup_failed": {"rental_id": 3, "why": "image", "image": "docker.io/library/x:1"},
    "provider_grant_failed": {"rental_id": 3, "machine": "box1", "error": "pull failed"},
    # payouts the token refused at settlement (core.services.payouts)
    "payout_held": {"rental_id": 3, "amount": 308_000, "address": "0xab", "retry_s": 120},
    "refund_held": {"rental_id": 3, "amount": 700_000, "address": "0xcd", "reason": "paused"},
    "payout_paid": {"rental_id": 3, "amount": 308_000, "address": "0xab", "tx": TX},
    "refund_paid": {"rental_id": 3, "amount": 700_000, "address": "0xcd", "tx": None},
}


def due(kind: str, lang: str = "en") -> DueMessage:
    return DueMessage(1, 1, "telegram", "1001", lang, kind, PAYLOADS[kind], True, 0)


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_every_notification_renders_in_english_and_german(kind):
    en, de = outbox(due(kind)), outbox(due(kind), "de")
    assert en and de and en != de
    assert "{" not in en + de  # no placeholder left over
    assert f"notify.{kind}" in catalogue("en") and f"notify.{kind}" in catalogue("de")


INSTANCE_CREDENTIALS = {
    **PAYLOADS["credentials"],
    "username": "root",
    "gpu_uuids": ["GPU-a", "GPU-b"],
    "image": "docker.io/pytorch/pytorch:2.3.1",
    "ports": [[8080, 32768], [6006, 32769]],
    "jupyter_port": 8888,
    "jupyter_token": "tok_" + "x" * 20,
    "instance": True,
    "simulated": False,
}


@pytest.mark.parametrize("lang", ["en", "de"])
def test_instance_credentials_show_everything_to_connect_and_that_files_go(lang):
    m = DueMessage(1, 1, "telegram", "1001", lang, "credentials", INSTANCE_CREDENTIALS, True, 0)
    text = outbox(m)
    assert "ssh -p 2222 root@gpu.example" in text and "SHA256:abc" in text
    assert "GPU-a, GPU-b" in text and "docker.io/pytorch/pytorch:2.3.1" in text
    assert "8080 → gpu.example:32768" in text and "6006 → gpu.example:32769" in text
    assert "ssh -N -L 8888:127.0.0.1:8888 -p 2222 root@gpu.example" in text
    assert "http://127.0.0.1:8888/lab?token=tok_" + "x" * 20 in text
    assert ("deleted" if lang == "en" else "gelöscht") in text
    assert "SIMULATED" not in text and "SIMULIERT" not in text
    simulated = {**INSTANCE_CREDENTIALS, "simulated": True, "jupyter_port": None}
    text = outbox(DueMessage(1, 1, "telegram", "1", lang, "credentials", simulated, True, 0))
    assert ("SIMULATED" if lang == "en" else "SIMULIERT") in text and "lab?token" not in text


def test_a_failed_grant_is_explained_in_words_and_the_provider_is_told_to_resume():
    renter_text = outbox(due("setup_failed"))
    assert "could not download the image docker.io/library/x:1" in renter_text
    # said before the escrow's cancelPending has run: a promise, never "is refunded"
    assert "will refund your whole deposit" in renter_text
    assert "is refunded" not in renter_text
    provider_text = outbox(due("provider_grant_failed"))
    assert "will refund the renter" in provider_text
    assert "Machine box1 could not start rental #3: pull failed" in provider_text
    assert "/resume box1" in provider_text
    assert "/resume box1" in outbox(due("provider_grant_failed", "de"))


def test_receipts_link_their_transactions_on_public_chains():
    assert explorer_base(137) == "https://polygonscan.com/tx/"
    assert explorer_base(80002) == "https://amoy.polygonscan.com/tx/"
    assert explorer_base(31337) is None and explorer_base(None) is None
    text = outbox(due("receipt"), explorer=explorer_base(137))
    assert f"settle: https://polygonscan.com/tx/{TX}" in text
    assert f"settle: {TX}" in outbox(due("receipt"))
    assert "Refund    0.700 USDC" in text  # three places: the fee needs them


def test_compose_attaches_the_key_file_and_the_extend_button():
    key = compose(due("private_key"))
    assert dict(key.attachments) == {"rigshare-3.key": "-----BEGIN OPENSSH PRIVATE KEY-----"}
    warn = compose(due("ending_soon", "de"))
    assert warn.buttons == (("1 Std verlängern", "extend:3"),) and warn.chat_id == "1001"
    assert compose(due("credentials")).attachments == {}


class _Recorder:
    platform = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        self.now = 0.0

    async def deliver(self, message) -> None:
        self.sent.append((self.now, message.chat_id))


class _Notifications:
    def __init__(self, messages: list[DueMessage]) -> None:
        self.messages = messages
        self.done: list[int] = []

    async def claim(self, platform, limit, lease_s):
        out, self.messages = self.messages[:limit], self.messages[limit:]
        return out

    async def mark_sent(self, outbox_id):
        self.done.append(outbox_id)

    async def mark_failed(self, *a, **kw):
        raise AssertionError("nothing fails here")

    async def release(self, ids):
        raise AssertionError("nothing is handed back here")


async def test_sender_paces_per_chat_and_overall():
    notifier = _Recorder()

    async def sleep(seconds: float) -> None:
        notifier.now += seconds

    messages = [
        DueMessage(i, 1, "telegram", chat, "en", "signature_expired", {"rental_id": i}, True, 0)
        for i, chat in enumerate(["1", "1", "1", "2", "3", "4"])
    ]
    sender = OutboxSender(
        _Notifications(messages),
        notifier,
        limits=SendLimits(per_second=2.0, per_chat_interval_s=1.0),
        monotonic=lambda: notifier.now,
        sleep=sleep,
    )
    assert await sender.run_once() == 6
    times = [t for t, _ in notifier.sent]
    same_chat = [t for t, c in notifier.sent if c == "1"]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(same_chat, same_chat[1:], strict=False))
    # two a second overall once the burst of two is spent: six messages take >= 2 s
    assert times[-1] >= 2.0 - 1e-9
    assert sender.sent == 6


def test_core_errors_in_the_users_language_with_english_fallback():
    with pytest.raises(GrammarError) as caught:
        g.parse("/rent 4090")
    exc = caught.value
    assert error_text("en", exc) == exc.user_message == "For how long? Try: /rent rtx4090 3h"
    assert error_text("de", exc) == "Wie lange? Probier: /rent rtx4090 3h"
    unkeyed = CoreError("Plain English only.")
    assert error_text("de", unkeyed) == "Plain English only."
    typo = CoreError("Fallback.", key="grammar.rent_how_long", params={})  # missing {model}
    assert error_text("de", typo) == "Fallback."


@pytest.mark.parametrize(
    "line",
    [
        "/rnet",
        "/",
        "hello",
        "/rent 4090 3h 5h",
        "/rent h100 a100 3h",
        "/gpus sort=cost",
        "/gpus region=!!",
        "/rent 4090 3h max=abc",
        "/rent 4090 3h max=0",
        "/rent 4090 3h count=99",
        "/rent 4090 3h colour=red",
        "/status 1 2",
        "/extend",
        "/receipts pdf",
        "/rate",
        "/rate 9",
        "/connect now",
        "/lang fr",
        "/register 0x12",
        "/addmachine",
        "/price 0.5",
        "/price",
        "/price box1",
        "/machines now",
        "/rent quantum 3h",
        "/sshkey -----BEGIN OPENSSH PRIVATE KEY-----",
        "/sshkey hello",
    ],
)
def test_grammar_errors_users_hit_most_are_translated(line):
    with pytest.raises(GrammarError) as caught:
        g.parse(line)
    exc = caught.value
    assert exc.key, f"{line!r} raised an error without a catalogue key"
    assert error_text("en", exc) == exc.user_message
    german = error_text("de", exc)
    assert german != exc.user_message and "{" not in german


def _pixels(png: bytes) -> list[bytes]:
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8 : start - 4])[0]
    raw = zlib.decompress(png[start : start + length])
    rows = [raw[i * (WIDTH + 1) : (i + 1) * (WIDTH + 1)] for i in range(HEIGHT)]
    assert all(r[0] == 0 for r in rows)  # filter type "none"
    return [r[1:] for r in rows]


def test_chart_draws_load_low_and_temperature_high():
    now = 1_790_003_600
    history = [(now - 60 * i, [[10, 80], [30, 70]]) for i in range(60)]  # 20 % load, 80 °C
    png = status_chart(history, now)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    rows = _pixels(png)
    load_rows = [y for y, r in enumerate(rows) if LOAD in r]
    temp_rows = [y for y, r in enumerate(rows) if TEMP in r]
    assert load_rows and temp_rows
    assert min(load_rows) > max(temp_rows)  # 20 % sits lower than 80 on the same scale
    assert status_chart(history[:1], now) is None  # one point is no line
    assert status_chart([(now - 7200, [[50, 50]]), (now - 7100, [[50, 50]])], now) is None


def test_a_chain_refusal_reads_in_the_recipients_language():
    from bot.common.render import outbox

    refused = {
        "rental_id": 3,
        "kind": "open",
        "reason": "The token issuer has blocked this address; nothing was charged.",
        "reason_key": "chain.deposit_too_small",
        "reason_params": {"minimum": "1.00 USDC"},
    }
    de = outbox(DueMessage(1, 1, "telegram", "1", "de", "payment_failed", refused, True, 0))
    assert "unter dem Minimum des Escrow-Vertrags von 1.00 USDC" in de
    assert "blocked" not in de  # no English sentence inside the German one
    unknown = {**refused, "reason_key": "chain.no_such_entry"}
    en = outbox(DueMessage(1, 1, "telegram", "1", "en", "payment_failed", unknown, True, 0))
    assert "The token issuer has blocked this address" in en  # the stored English text
