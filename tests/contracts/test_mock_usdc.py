"""MockUSDC behaves like USDC where the escrow depends on it: 2612, 3009, blocklist, pause."""

from __future__ import annotations

from eth_utils import keccak

from contracts.typed_data import permit, receive_with_authorization, split_signature
from tests.contracts.sandbox import USDC, Sandbox


def _transfer_auth(sb: Sandbox, to: str, value: int, after: int, before: int, nonce: bytes):
    typed = receive_with_authorization(
        sb.token_domain(), sb.addr("renter"), sb.addr(to), value, after, before, nonce
    )
    typed["primaryType"] = "TransferWithAuthorization"
    typed["types"]["TransferWithAuthorization"] = typed["types"].pop("ReceiveWithAuthorization")
    return split_signature(sb.sign_typed("renter", typed))


def test_metadata(sb: Sandbox) -> None:
    f = sb.token.functions
    assert (f.name().call(), f.symbol().call(), f.decimals().call(), f.version().call()) == (
        "USD Coin",
        "USDC",
        6,
        "2",
    )


def test_mint_is_owner_only(sb: Sandbox) -> None:
    for call in (
        sb.token.functions.mint(sb.addr("stranger"), 1),
        sb.token.functions.blocklist(sb.addr("renter")),
        sb.token.functions.unBlocklist(sb.addr("renter")),
        sb.token.functions.pause(),
        sb.token.functions.unpause(),
    ):
        with sb.reverts("OwnableUnauthorizedAccount"):
            sb.send(call, "stranger")


def test_permit(sb: Sandbox) -> None:
    f = sb.token.functions
    deadline = sb.next_timestamp() + 100
    typed = permit(sb.token_domain(), sb.addr("renter"), sb.addr("stranger"), 5, 0, deadline)
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    sb.send(f.permit(sb.addr("renter"), sb.addr("stranger"), 5, deadline, v, r, s), "operator")
    assert f.allowance(sb.addr("renter"), sb.addr("stranger")).call() == 5
    assert f.nonces(sb.addr("renter")).call() == 1
    with sb.reverts("PermitInvalidSigner"):  # replay: the nonce moved on
        sb.send(f.permit(sb.addr("renter"), sb.addr("stranger"), 5, deadline, v, r, s), "operator")
    typed = permit(sb.token_domain(), sb.addr("renter"), sb.addr("stranger"), 5, 1, deadline)
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    sb.set_next_timestamp(deadline + 1)
    with sb.reverts("PermitExpired"):
        sb.send(f.permit(sb.addr("renter"), sb.addr("stranger"), 5, deadline, v, r, s), "operator")


def test_transfer_and_receive_with_authorization(sb: Sandbox) -> None:
    f = sb.token.functions
    now = sb.next_timestamp()
    nonce = keccak(text="n1")
    v, r, s = _transfer_auth(sb, "provider", USDC, 0, now + 100, nonce)
    args = (sb.addr("renter"), sb.addr("provider"), USDC, 0, now + 100, nonce, v, r, s)
    sb.send(f.transferWithAuthorization(*args), "stranger")
    assert f.balanceOf(sb.addr("provider")).call() == USDC
    assert f.authorizationState(sb.addr("renter"), nonce).call() is True
    with sb.reverts("ERC3009UsedAuthorization"):
        sb.send(f.transferWithAuthorization(*args), "stranger")
    # receiveWithAuthorization must be submitted by the payee itself
    nonce2 = keccak(text="n2")
    typed = receive_with_authorization(
        sb.token_domain(), sb.addr("renter"), sb.addr("provider"), USDC, 0, now + 100, nonce2
    )
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    args = (sb.addr("renter"), sb.addr("provider"), USDC, 0, now + 100, nonce2, v, r, s)
    with sb.reverts("ERC20InvalidReceiver"):
        sb.send(f.receiveWithAuthorization(*args), "stranger")
    sb.send(f.receiveWithAuthorization(*args), "provider")
    assert f.balanceOf(sb.addr("provider")).call() == 2 * USDC


def test_authorization_validity_window(sb: Sandbox) -> None:
    f = sb.token.functions
    now = sb.next_timestamp()
    nonce = keccak(text="w")
    v, r, s = _transfer_auth(sb, "provider", 1, now + 50, now + 100, nonce)
    args = (sb.addr("renter"), sb.addr("provider"), 1, now + 50, now + 100, nonce, v, r, s)
    with sb.reverts("ERC3009InvalidAuthorizationTime"):
        sb.send(f.transferWithAuthorization(*args), "stranger")
    sb.set_next_timestamp(now + 100)
    with sb.reverts("ERC3009InvalidAuthorizationTime"):
        sb.send(f.transferWithAuthorization(*args), "stranger")


def test_cancel_authorization(sb: Sandbox) -> None:
    f = sb.token.functions
    now = sb.next_timestamp()
    nonce = keccak(text="c")
    domain = sb.token_domain()
    cancel = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "CancelAuthorization": [
                {"name": "authorizer", "type": "address"},
                {"name": "nonce", "type": "bytes32"},
            ],
        },
        "primaryType": "CancelAuthorization",
        "domain": domain.as_dict(),
        "message": {"authorizer": sb.addr("renter"), "nonce": "0x" + nonce.hex()},
    }
    cv, cr, cs = split_signature(sb.sign_typed("renter", cancel))
    sb.send(f.pause(), "deployer")
    with sb.reverts("EnforcedPause"):
        sb.send(f.cancelAuthorization(sb.addr("renter"), nonce, cv, cr, cs), "stranger")
    sb.send(f.unpause(), "deployer")
    sb.send(f.cancelAuthorization(sb.addr("renter"), nonce, cv, cr, cs), "stranger")
    v, r, s = _transfer_auth(sb, "provider", 1, 0, now + 100, nonce)
    with sb.reverts("ERC3009UsedAuthorization"):
        sb.send(
            f.transferWithAuthorization(
                sb.addr("renter"), sb.addr("provider"), 1, 0, now + 100, nonce, v, r, s
            ),
            "stranger",
        )


def test_blocklist(sb: Sandbox) -> None:
    f = sb.token.functions
    sb.send(f.blocklist(sb.addr("provider")), "deployer")
    assert f.isBlocklisted(sb.addr("provider")).call() is True
    with sb.reverts("AccountBlocklisted"):
        sb.send(f.transfer(sb.addr("provider"), 1), "renter")
    with sb.reverts("AccountBlocklisted"):
        sb.send(f.approve(sb.addr("provider"), 1), "renter")
    sb.send(f.blocklist(sb.addr("renter")), "deployer")
    with sb.reverts("AccountBlocklisted"):
        sb.send(f.transfer(sb.addr("stranger"), 1), "renter")
    sb.send(f.unBlocklist(sb.addr("provider")), "deployer")
    sb.send(f.unBlocklist(sb.addr("renter")), "deployer")
    sb.send(f.transfer(sb.addr("provider"), 1), "renter")


def test_pause(sb: Sandbox) -> None:
    f = sb.token.functions
    sb.send(f.pause(), "deployer")
    for call, who in (
        (f.transfer(sb.addr("provider"), 1), "renter"),
        (f.approve(sb.addr("provider"), 1), "renter"),
        (f.mint(sb.addr("provider"), 1), "deployer"),
    ):
        with sb.reverts("EnforcedPause"):
            sb.send(call, who)
    sb.send(f.unpause(), "deployer")
    sb.send(f.transfer(sb.addr("provider"), 1), "renter")
