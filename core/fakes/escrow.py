"""In-memory stand-in for the escrow contract, with the contract's rules and integer math.

Used by unit tests and by the embedded default until the real contract adapter is wired in.
It keeps a token ledger, checks signatures (a hash that binds signer and terms, so a relayer
that changes the terms is refused exactly like on chain) and emits the contract's events.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from core.domain.billing import DEFAULT_FEE_BPS, paid_seconds, settle
from core.errors import PaymentError
from core.ports import ChainEvent, ChainReceipt, Clock, RentalTerms, SignatureRequest

MIN_DEPOSIT = 100_000  # 0.1 USDC
FAKE_CHAIN_ID = 31337
FAKE_CONTRACT = "0x" + "e5c0" * 10


def fake_signature(signer: str, payload: Any) -> str:
    """What the fake wallet 'signs': bound to the signer and every byte of the payload."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return "0x" + hashlib.sha256(signer.lower().encode() + b"|" + blob).hexdigest()


@dataclass
class _Rental:
    terms: RentalTerms
    renter: str
    deposit: int
    fee_bps: int
    status: str = "Pending"
    started_at: int = 0
    paid_until: int = 0
    ended_at: int = 0


class FakeEscrow:
    """Implements core.ports.EscrowPort in memory."""

    chain_id = FAKE_CHAIN_ID

    def __init__(self, clock: Clock, *, fee_bps: int = DEFAULT_FEE_BPS, faucet: int = 0) -> None:
        self.clock = clock
        self.faucet = faucet  # a development chain funds every new address with this much
        self.fee_bps = fee_bps
        self.balances: dict[str, int] = {}
        self.rentals: dict[str, _Rental] = {}
        self.fees_accrued = 0
        self.locked = 0
        self._block = 1
        self._tx = 0
        self.used_salts: set[str] = set()

    # -- token ledger ----------------------------------------------------------------------
    def mint(self, address: str, amount: int) -> None:
        self.balances[address.lower()] = self.balances.get(address.lower(), 0) + amount

    async def balance_of(self, address: str) -> int:
        return self.balances.get(address.lower(), self.faucet)

    def _move(self, frm: str, to: str, amount: int) -> None:
        if frm.lower() not in self.balances and self.faucet:
            self.balances[frm.lower()] = self.faucet
        if self.balances.get(frm.lower(), 0) < amount:
            raise PaymentError("Your wallet does not hold enough USDC for this deposit.")
        self.balances[frm.lower()] -= amount
        self.balances[to.lower()] = self.balances.get(to.lower(), 0) + amount

    # -- payloads ----------------------------------------------------------------------------
    def escrow_id(self, terms: RentalTerms) -> str:
        blob = json.dumps([asdict(terms), self.chain_id, FAKE_CONTRACT], sort_keys=True)
        return "0x" + hashlib.sha256(blob.encode()).hexdigest()

    def _open_payload(self, terms: RentalTerms, renter: str) -> dict:
        return {
            "primaryType": "ReceiveWithAuthorization",
            "domain": {"chainId": self.chain_id, "verifyingContract": FAKE_CONTRACT},
            "message": {"from": renter.lower(), "nonce": self.escrow_id(terms), **asdict(terms)},
        }

    async def prepare_open(self, terms: RentalTerms, renter: str) -> SignatureRequest:
        return SignatureRequest(
            kind="open",
            method="eth_signTypedData_v4",
            payload=self._open_payload(terms, renter),
            summary=f"Lock {terms.deposit} micro-USDC for listing {terms.listing_id}",
            escrow_id=self.escrow_id(terms),
        )

    async def prepare_extend(
        self, escrow_id: str, renter: str, amount: int, salt: str
    ) -> SignatureRequest:
        payload = {
            "primaryType": "Extend",
            "message": {"id": escrow_id, "amount": amount, "salt": salt, "from": renter.lower()},
        }
        return SignatureRequest(
            "extend", "eth_signTypedData_v4", payload, f"Add {amount} micro-USDC", escrow_id
        )

    async def prepare_stop(self, escrow_id: str, renter: str) -> SignatureRequest:
        payload = {"primaryType": "Stop", "message": {"id": escrow_id, "from": renter.lower()}}
        return SignatureRequest(
            "stop", "eth_signTypedData_v4", payload, "Stop the rental", escrow_id
        )

    # -- transactions ----------------------------------------------------------------------
    async def open(self, terms: RentalTerms, renter: str, signature: str) -> ChainReceipt:
        if signature != fake_signature(renter, self._open_payload(terms, renter)):
            raise PaymentError("The signature does not match these rental terms.")
        eid = self.escrow_id(terms)
        if eid in self.rentals:
            raise PaymentError("This authorization was already used.")
        if self.clock.now() > terms.quote_expiry:
            raise PaymentError("The quote expired before the payment arrived.")
        if terms.deposit < MIN_DEPOSIT:
            raise PaymentError("The deposit is below the minimum.")
        self._move(renter, FAKE_CONTRACT, terms.deposit)
        self.locked += terms.deposit
        self.rentals[eid] = _Rental(terms, renter.lower(), terms.deposit, self.fee_bps)
        return self._receipt(
            (
                "RentalOpened",
                eid,
                {"renter": renter, "deposit": terms.deposit, "provider": terms.provider_address},
            )
        )

    async def start(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Pending")
        now = self.clock.now()
        r.status, r.started_at = "Active", now
        r.paid_until = now + paid_seconds(r.deposit, r.terms.price_per_hour)
        return self._receipt(
            ("RentalStarted", escrow_id, {"startedAt": now, "paidUntil": r.paid_until})
        )

    async def extend(
        self, escrow_id: str, renter: str, amount: int, salt: str, signature: str
    ) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        req = await self.prepare_extend(escrow_id, renter, amount, salt)
        if signature != fake_signature(renter, req.payload) or salt in self.used_salts:
            raise PaymentError("The extension signature is not valid.")
        if self.clock.now() >= r.paid_until:
            raise PaymentError("The prepaid time already ran out.")
        self._move(renter, FAKE_CONTRACT, amount)
        self.used_salts.add(salt)
        self.locked += amount
        r.deposit += amount
        r.paid_until = r.started_at + paid_seconds(r.deposit, r.terms.price_per_hour)
        return self._receipt(
            ("RentalExtended", escrow_id, {"deposit": r.deposit, "paidUntil": r.paid_until})
        )

    async def stop_and_settle(
        self, escrow_id: str, renter: str, signature: str | None
    ) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        req = await self.prepare_stop(escrow_id, renter)
        if signature != fake_signature(renter, req.payload):
            raise PaymentError("The stop signature is not valid.")
        return self._end_and_settle(escrow_id, r)

    async def settle_expired(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        if self.clock.now() < r.paid_until:
            raise PaymentError("The prepaid time has not run out yet.")
        return self._end_and_settle(escrow_id, r)

    async def cancel_pending(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Pending")
        r.status = "Closed"
        self.locked -= r.deposit
        self._move(FAKE_CONTRACT, r.renter, r.deposit)
        return self._receipt(
            ("RentalSettled", escrow_id, {"providerNet": 0, "fee": 0, "refund": r.deposit})
        )

    async def open_dispute(self, escrow_id: str, evidence_hash: str) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        r.status = "Disputed"
        return self._receipt(("DisputeOpened", escrow_id, {"evidenceHash": evidence_hash}))

    # -- internals ---------------------------------------------------------------------------
    def _get(self, escrow_id: str, status: str) -> _Rental:
        r = self.rentals.get(escrow_id)
        if r is None:
            raise PaymentError("The escrow knows no such rental.")
        if r.status != status:
            raise PaymentError(f"The escrow has this rental as {r.status}, not {status}.")
        return r

    def _end_and_settle(self, escrow_id: str, r: _Rental) -> ChainReceipt:
        now = self.clock.now()
        r.ended_at = min(now, r.paid_until)
        s = settle(
            deposit=r.deposit,
            price_per_hour=r.terms.price_per_hour,
            fee_bps=r.fee_bps,
            started_at=r.started_at,
            ended_at=r.ended_at,
            paid_until=r.paid_until,
        )
        r.status = "Closed"
        self.locked -= r.deposit
        self._move(FAKE_CONTRACT, r.terms.provider_address, s.provider_net)
        self._move(FAKE_CONTRACT, r.renter, s.refund)
        self.fees_accrued += s.fee
        return self._receipt(
            ("RentalEnded", escrow_id, {"endedAt": r.ended_at}),
            (
                "RentalSettled",
                escrow_id,
                {"providerNet": s.provider_net, "fee": s.fee, "refund": s.refund},
            ),
        )

    def _receipt(self, *events: tuple[str, str, dict]) -> ChainReceipt:
        self._tx += 1
        self._block += 1
        tx = "0x" + hashlib.sha256(f"tx{self._tx}".encode()).hexdigest()
        evs = tuple(
            ChainEvent(tx, i, self._block, name, eid, args)
            for i, (name, eid, args) in enumerate(events)
        )
        return ChainReceipt(tx, self._block, 50_000 * len(events), evs)
