"""Reverts read in words: Circle's USDC refuses with Error(string) reasons, a bug with a Panic code.

The real token's refusals go through the production path (the relayer's dry run over AsyncWeb3,
the development chain's JSON-RPC error shape, ``RevertDecoder``) and must name the cause in
English and, through the catalogue, in German; only a revert that carries nothing we can read
keeps the generic "The escrow refused the transaction".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from web3 import AsyncWeb3

from bot.common.i18n import catalogue, error_text
from contracts.artifacts import load_artifact
from contracts.errors import _TEXTS, ERROR_STRING, PANIC, RevertDecoder, Reverted
from contracts.relayer import Relayer
from contracts.typed_data import open_authorization, split_signature
from rigshare_dev.chain import DEV_FEES, DEV_GAS, _ClockedTesterProvider
from tests.contracts.helpers import open_rental, start_rental
from tests.contracts.sandbox import CIRCLE_USDC, Sandbox
from tests.fakes.clock import FakeClock

ON_CIRCLE_USDC = pytest.mark.parametrize("token_name", [CIRCLE_USDC])

DECODER = RevertDecoder(
    (load_artifact("RentalEscrow").abi, load_artifact("MockUSDC").abi)  # as Web3Escrow builds it
)


async def _refusal(sb: Sandbox, sender: str, build: Callable[[Any, Any], Any]) -> Reverted:
    """Sends ``build(escrow, token)`` (AsyncWeb3 contracts) through the production relayer on the
    sandbox chain and returns the Reverted it raises."""
    clock = FakeClock(sb.next_timestamp())
    w3 = AsyncWeb3(_ClockedTesterProvider(sb.tester, clock))
    escrow = w3.eth.contract(address=sb.escrow.address, abi=sb.escrow.abi)
    token = w3.eth.contract(address=sb.token.address, abi=sb.token.abi)
    relayer = Relayer(w3, sb.accounts[sender], fees=DEV_FEES, fixed_gas=DEV_GAS, decoder=DECODER)
    with pytest.raises(Reverted) as caught:
        await relayer.send(build(escrow, token))
    return caught.value


def _open_call(sb: Sandbox, renter: str = "renter", signer: str | None = None):
    terms = sb.terms()
    typed = open_authorization(terms, sb.addr(renter), sb.token_domain(), sb.escrow.address)
    v, r, s = split_signature(sb.sign_typed(signer or renter, typed))
    return lambda escrow, _token: escrow.functions.openWithAuthorization(
        terms.as_tuple(), sb.addr(renter), v, r, s
    )


def _assert_reads(exc: Reverted, key: str, reason: str) -> None:
    assert (exc.error, exc.error_args) == ("Error", (reason,))
    assert exc.key == f"chain.{key}"
    assert exc.user_message == _TEXTS[key]
    german = error_text("de", exc)
    assert german == catalogue("de")[f"err.chain.{key}"] and german != exc.user_message
    assert "escrow refused" not in exc.user_message


@ON_CIRCLE_USDC
async def test_a_blocked_renter_reads_blocked_by_the_issuer(sb: Sandbox) -> None:
    sb.block("renter")
    exc = await _refusal(sb, "operator", _open_call(sb))
    _assert_reads(exc, "blocked", "Blacklistable: account is blacklisted")
    assert "blocked" in exc.user_message and "nothing was charged" in exc.user_message


@ON_CIRCLE_USDC
async def test_a_paused_token_reads_paused_try_later(sb: Sandbox) -> None:
    sb.pause_token()
    exc = await _refusal(sb, "operator", _open_call(sb))
    _assert_reads(exc, "token_paused", "Pausable: paused")
    assert "paused by its issuer" in exc.user_message and "later" in exc.user_message


@ON_CIRCLE_USDC
async def test_a_renter_without_usdc_reads_not_enough(sb: Sandbox) -> None:
    sb.add_account("broke")
    exc = await _refusal(sb, "operator", _open_call(sb, renter="broke"))
    _assert_reads(exc, "balance", "ERC20: transfer amount exceeds balance")
    assert "not hold enough USDC" in exc.user_message


@ON_CIRCLE_USDC
async def test_a_signature_by_another_key_reads_did_not_match(sb: Sandbox) -> None:
    exc = await _refusal(sb, "operator", _open_call(sb, signer="stranger"))
    _assert_reads(exc, "signature", "FiatTokenV2: invalid signature")
    assert "signature did not match" in exc.user_message


@ON_CIRCLE_USDC
async def test_a_blocked_provider_claiming_reads_blocked(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.block("provider")
    sb.set_next_timestamp(started + 1800)
    sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")  # the payout is parked
    exc = await _refusal(
        sb, "operator", lambda escrow, _t: escrow.functions.claimFor(sb.addr("provider"))
    )
    _assert_reads(exc, "blocked", "Blacklistable: account is blacklisted")


@ON_CIRCLE_USDC
async def test_a_direct_token_transfer_over_the_balance_reads_not_enough(sb: Sandbox) -> None:
    exc = await _refusal(
        sb, "renter", lambda _e, token: token.functions.transfer(sb.addr("stranger"), 10**15)
    )
    _assert_reads(exc, "balance", "ERC20: transfer amount exceeds balance")


@ON_CIRCLE_USDC
async def test_custom_errors_still_read_as_before(sb: Sandbox) -> None:
    opened = open_rental(sb)
    exc = await _refusal(
        sb, "operator", lambda escrow, _t: escrow.functions.stop(opened.id)
    )  # still Pending
    assert exc.error == "WrongStatus" and exc.key == "chain.wrong_status"
    assert exc.user_message == (
        "The escrow has this rental as waiting to start; that step is not possible."
    )
    assert error_text("de", exc).startswith("Der Escrow-Vertrag führt diese Miete als wartend")


# -- decoding without a chain ---------------------------------------------------------------------


def test_error_string_with_dirty_padding_is_read() -> None:
    # Circle's token (solc 0.6.12) leaves a stray byte in the padding: strict decoders give up
    data = bytearray(ERROR_STRING + encode(["string"], ["Pausable: paused"]))
    data[-1] = 0x41
    exc = DECODER.error(bytes(data))
    assert (exc.error, exc.key) == ("Error", "chain.token_paused")


def test_unknown_reason_is_shown_cleaned_and_cut() -> None:
    reason = "Weird: \x00\x1b[31mred" + "x" * 300
    exc = DECODER.error(ERROR_STRING + encode(["string"], [reason]))
    assert exc.key == "chain.refused_reason" and exc.error_args == (reason,)
    assert "\x00" not in exc.user_message and "\x1b" not in exc.user_message
    assert "Weird: ??[31mred" in exc.user_message and len(exc.user_message) < 200
    assert exc.user_message.endswith("…); nothing was charged.")


def test_panic_names_its_code() -> None:
    exc = DECODER.error(PANIC + (0x11).to_bytes(32, "big"))
    assert (exc.error, exc.error_args) == ("Panic", (0x11,))
    assert "panic 0x11: arithmetic overflow" in exc.user_message
    assert "Panic 0x11" in error_text("de", exc)


@pytest.mark.parametrize("data", [b"", b"\x12\x34\x56\x78", ERROR_STRING + b"\x01", PANIC])
def test_only_unreadable_reverts_stay_generic(data: bytes) -> None:
    exc = DECODER.error(data)
    assert exc.user_message == "The escrow refused the transaction; nothing was charged."
    assert exc.key == "chain.refused"


def test_every_chain_text_has_german_with_the_same_placeholders() -> None:
    german = catalogue("de")
    sample = {"reason": "r", "code": "0x01", "meaning": "m", "minimum": "1 USDC", "when": "w"}
    sample |= {"status": "active", "status_de": "aktiv"}
    for key, english in _TEXTS.items():
        assert f"err.chain.{key}" in german, key
        assert english.format(**sample) and german[f"err.chain.{key}"].format(**sample)


@ON_CIRCLE_USDC
async def test_a_refusal_only_at_mining_is_read_from_a_replay_not_left_generic(sb: Sandbox) -> None:
    """The dry run passes; the issuer pauses the token before the transaction is mined."""

    class PausedInBetween(Relayer):
        async def _prepare(self, call: Any) -> dict[str, Any]:
            tx = await super()._prepare(call)
            sb.pause_token()
            return tx

    clock = FakeClock(sb.next_timestamp())
    w3 = AsyncWeb3(_ClockedTesterProvider(sb.tester, clock))
    escrow = w3.eth.contract(address=sb.escrow.address, abi=sb.escrow.abi)
    relayer = PausedInBetween(
        w3, sb.accounts["operator"], fees=DEV_FEES, fixed_gas=DEV_GAS, decoder=DECODER
    )
    with pytest.raises(Reverted) as caught:
        await relayer.send(_open_call(sb)(escrow, None), what="payment")
    _assert_reads(caught.value, "token_paused", "Pausable: paused")
