"""The signature request entity: only a pending request changes, once; a late answer
expires it; a rental's relay parameters are typed by its kind."""

from __future__ import annotations

import pytest

from core.domain.errors import IllegalTransition
from core.domain.signatures import (
    DisputeRelay,
    ExtendRelay,
    OpenRelay,
    PendingSignature,
    SignatureKind,
    StopRelay,
)


def _request(kind: str = "stop", expires_at: int = 100, **params) -> PendingSignature:
    return PendingSignature("t" * 32, 1, kind, params, 0, expires_at, rental_id=7)


def test_a_signature_in_time_is_kept_with_the_request_for_a_relay_again():
    request = _request(deadline=90)
    assert request.sign(50, "0xsig") is True
    assert request.status == "signed" and not request.is_pending
    stored = request.params()
    assert stored["signature"] == "0xsig" and stored["signed_at"] == 50 and stored["deadline"] == 90


def test_an_answer_after_the_expiry_expires_the_request_and_keeps_nothing():
    request = _request(deadline=90)
    assert request.sign(101, "0xsig") is False
    assert request.status == "expired" and "signature" not in request.params()


@pytest.mark.parametrize("close", ["fail", "expire"])
def test_only_a_pending_request_changes(close):
    request = _request()
    getattr(request, close)()
    for again in (request.fail, request.expire, lambda: request.sign(1, "0x")):
        with pytest.raises(IllegalTransition):
            again()


def test_relay_parameters_are_typed_by_kind():
    assert _request(SignatureKind.OPEN).relay_params() == OpenRelay()
    extend = _request("extend", amount="5", salt="0x01", valid_before=9).relay_params()
    assert extend == ExtendRelay(5, "0x01", 9)
    assert _request("stop", deadline=90).relay_params() == StopRelay(90)
    assert _request("dispute", evidence_hash="0xe", deadline=3).relay_params() == DisputeRelay(
        "0xe", 3
    )
    assert _request("stop").relay_params() is None  # its deadline is missing
    assert _request("connect").relay_params() is None  # nothing to relay
    broken = PendingSignature("t" * 32, 1, "stop", None, 0, 100)  # a damaged row reads so
    assert broken.params() == {} and broken.relay_params() is None
