"""The service sees what holds and pays a parked payout: ``PushFailed`` (by rental) and
``Claimed`` (by account) decoded from the contract's logs, and the watcher never splits one
transaction's events between two database transactions."""

from __future__ import annotations

from eth_abi import encode

from contracts.errors import RevertDecoder, Reverted, keyed_revert
from contracts.escrow import refusal_reason
from contracts.events import EventDecoder
from contracts.watcher import tx_batches
from core.ports import ChainEvent
from tests.contracts.helpers import settled, start_rental
from tests.contracts.sandbox import Sandbox


def test_push_failed_and_claimed_are_decoded_with_their_subject(sb: Sandbox) -> None:
    decoder = EventDecoder(sb.w3, sb.escrow.abi, sb.escrow.address)
    opened, started = start_rental(sb)
    provider = sb.addr("provider")
    sb.send(sb.token.functions.blocklist(provider), "deployer")
    sb.set_next_timestamp(started + 1800)
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    net, _, _ = settled(sb, receipt)
    names = [e.name for e in decoder.decode_all(receipt["logs"])]
    assert names == ["RentalEnded", "RentalSettled", "PushFailed"]  # settled, then parked
    pushed = decoder.decode_all(receipt["logs"])[-1]
    assert pushed.escrow_id == "0x" + opened.id.hex()
    assert dict(pushed.args) == {"to": provider, "amount": net}

    sb.send(sb.token.functions.unBlocklist(provider), "deployer")
    receipt = sb.send(sb.escrow.functions.claimFor(provider), "operator")
    (claimed,) = decoder.decode_all(receipt["logs"])
    assert claimed.name == "Claimed" and claimed.escrow_id == provider.lower()
    assert dict(claimed.args) == {"account": provider, "amount": net}
    (log,) = [x for x in receipt["logs"] if x["address"] == sb.escrow.address]
    assert "0x" + bytes(log["topics"][0]).hex() in decoder.topics  # the watcher asks for it


def _ev(tx: str, i: int) -> ChainEvent:
    return ChainEvent(tx_hash=tx, log_index=i, block_number=1, name="X", escrow_id="0x")


def test_watcher_batches_keep_each_transaction_whole() -> None:
    events = [_ev("a", 0), _ev("a", 1), _ev("b", 2), _ev("b", 3), _ev("b", 4), _ev("c", 5)]
    batches = tx_batches(events, 2)
    assert [[e.tx_hash for e in b] for b in batches] == [["a", "a"], ["b", "b", "b"], ["c"]]
    assert tx_batches(events, 200) == [events] and tx_batches([], 5) == []
    assert [len(b) for b in tx_batches(events, 1)] == [2, 3, 1]


def test_a_refused_claim_names_the_tokens_reason() -> None:
    decoder = RevertDecoder(())
    blocked = keyed_revert("blocked", "AccountBlocklisted", ("0xab",))
    assert refusal_reason(blocked) == ("blocked", "the token issuer blocks the address")
    paused = keyed_revert("token_paused", "EnforcedPause")
    assert refusal_reason(paused) == ("token_paused", "the token is paused by its issuer")
    # Circle's FiatToken reverts with Error(string): known reasons read the same ...
    circle = decoder.error(_error_string("Blacklistable: account is blacklisted"))
    assert refusal_reason(circle) == ("blocked", "the token issuer blocks the address")
    # ... and an unknown one in its own words
    odd = decoder.error(_error_string("FiatToken: odd"))
    assert refusal_reason(odd) == (None, "FiatToken: odd")
    assert refusal_reason(Reverted("The escrow refused it.")) == (None, "The escrow refused it.")


def _error_string(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [reason])
