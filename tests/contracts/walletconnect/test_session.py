"""What a wallet settles, extends and updates, checked as the JS SDK's dapp accepts it: the
namespaces of an optional-namespace proposal either way, ``wc_sessionExtend`` with ``{}``."""

from __future__ import annotations

import pytest

from contracts.walletconnect import protocol as p
from contracts.walletconnect.session import PeerError, Session, account_in, extended_expiry

ME = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
METHODS = ["eth_signTypedData_v4", "personal_sign"]
NOW = 1_800_000_000
WEEK = 7 * 86_400


def session(expiry: int) -> Session:
    return Session("t" * 64, b"k" * 32, b"p" * 32, "q" * 64, ME, 137, expiry, "wallet")


@pytest.mark.parametrize(
    "namespaces",
    [
        {
            "eip155": {
                "chains": ["eip155:137"],
                "accounts": [f"eip155:137:{ME}"],
                "methods": METHODS,
            }
        },
        {"eip155:137": {"accounts": [f"eip155:137:{ME}"], "methods": METHODS, "events": []}},
        {  # one namespace per chain, ours second
            "eip155:1": {"accounts": [f"eip155:1:{OTHER}"], "methods": ["personal_sign"]},
            "eip155:137": {"accounts": [f"eip155:137:{ME}"], "methods": METHODS},
        },
    ],
)
def test_settled_namespaces_either_way(namespaces):
    address, methods = account_in(namespaces, 137)
    assert address.lower() == ME and set(METHODS) <= set(methods)


@pytest.mark.parametrize(
    "namespaces, code",
    [
        ({"eip155:1": {"accounts": [f"eip155:1:{ME}"], "methods": METHODS}}, 5103),
        ({"eip155": {"accounts": f"eip155:137:{ME}", "methods": METHODS}}, 5103),
        ({"solana": {"accounts": [f"eip155:137:{ME}"], "methods": METHODS}}, 5103),
        ({"eip155:137": {"accounts": [f"eip155:137:{ME}"], "methods": ["personal_sign"]}}, 5101),
    ],
)
def test_settled_namespaces_we_cannot_use(namespaces, code):
    with pytest.raises(PeerError) as err:
        account_in(namespaces, 137)
    assert err.value.code == code


def test_extend_with_empty_params_is_now_plus_seven_days():
    assert extended_expiry(session(NOW + 100), {}, NOW) == NOW + WEEK
    assert extended_expiry(session(NOW + 100), {"expiry": None}, NOW) == NOW + WEEK


def test_extend_with_an_expiry_is_taken_up_to_seven_days():
    assert extended_expiry(session(NOW + 100), {"expiry": NOW + 3600}, NOW) == NOW + 3600
    assert extended_expiry(session(NOW + 100), {"expiry": NOW + WEEK + 30}, NOW) == NOW + WEEK


@pytest.mark.parametrize("params", [[], {"expiry": NOW + 50}, {"expiry": "soon"}, {"expiry": True}])
def test_extend_refuses_what_is_not_later(params):
    with pytest.raises(PeerError) as err:
        extended_expiry(session(NOW + 100), params, NOW)
    assert err.value.code == p.INVALID_EXTEND
