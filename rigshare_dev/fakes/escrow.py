"""In-memory stand-in for the escrow contract, with the contract's rules and integer math.

Used by unit tests (``chain="fake"``). It keeps a token ledger, checks signatures (a hash that
binds signer and payload, so a relayer that changes the terms is refused exactly like on chain),
follows the contract's state machine (Pending, Active, Ended, Disputed, Closed, with the
challenge window and the arbiter timeout), refuses deposits and prepaid times below its
minimums, parks payments the token refuses (``blocked`` addresses, ``token_paused``) in
``claimable`` with ``PushFailed`` until ``claim_for``, and emits the contract's events with its
argument names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from core.domain.billing import DEFAULT_FEE_BPS, billed, paid_seconds, platform_fee
from core.domain.money import format_usdc
from core.errors import PaymentError, PaymentRefused
from core.ports import (
    ChainEvent,
    ChainReceipt,
    Clock,
    EscrowMinimums,
    RentalTerms,
    SignatureRequest,
)

MIN_DEPOSIT = 100_000  # 0.1 USDC, as the development chain deploys it
MIN_PREPAID_SECONDS = 600
FAKE_CHAIN_ID = 31337
FAKE_CONTRACT = "0x" + "e5c0" * 10
Events = list[tuple[str, str, dict]]


def fake_signature(signer: str, payload: Any) -> str:
    """What the fake wallet 'signs': bound to the signer and every byte of the payload.

    65 bytes like a real signature: a digest of signer and payload, then the signer's 20
    bytes (so ``rigshare_dev.fakes.signatures`` can "recover" it), zero padding and a v byte.
    """
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(signer.lower().encode() + b"|" + blob).hexdigest()
    return "0x" + digest + signer.lower().removeprefix("0x") + "00" * 12 + "1b"


@dataclass
class _Rental:
    terms: RentalTerms
    renter: str
    deposit: int
    fee_bps: int
    opened_at: int
    status: str = "Pending"
    started_at: int = 0
    paid_until: int = 0
    ended_at: int = 0
    disputed_at: int = 0


class FakeEscrow:
    """Implements core.ports.EscrowPort in memory."""

    chain_id = FAKE_CHAIN_ID

    def __init__(
        self,
        clock: Clock,
        *,
        fee_bps: int = DEFAULT_FEE_BPS,
        faucet: int = 0,
        challenge_window: int = 86_400,
        arbiter_timeout: int = 7 * 86_400,
        min_deposit: int = MIN_DEPOSIT,
        min_prepaid_seconds: int = MIN_PREPAID_SECONDS,
    ) -> None:
        self.clock = clock
        self.faucet = faucet  # a development chain funds every new address with this much
        self.fee_bps = fee_bps
        self.challenge_window = challenge_window
        self.arbiter_timeout = arbiter_timeout
        self.balances: dict[str, int] = {}
        self.rentals: dict[str, _Rental] = {}
        self.fees_accrued = 0
        self.locked = 0
        self.events: list[ChainEvent] = []  # every event emitted, in order (tests)
        self.arbiter_available = True  # False: resolve fails as without an arbiter key
        self._block = 1
        self._tx = 0
        self.used_salts: set[str] = set()
        self.min_deposit = min_deposit
        self.min_prepaid_seconds = min_prepaid_seconds
        self.blocked: set[str] = set()  # addresses the token refuses (lower-case)
        self.token_paused = False
        self.claimable_of: dict[str, int] = {}

    def set_minimums(self, min_deposit: int, min_prepaid_seconds: int) -> None:
        """The owner's ``setMinimums``: applies to rentals opened from now on."""
        self.min_deposit, self.min_prepaid_seconds = min_deposit, min_prepaid_seconds

    async def minimums(self) -> EscrowMinimums:
        return EscrowMinimums(self.min_deposit, self.min_prepaid_seconds)

    # -- token ledger ----------------------------------------------------------------------
    def mint(self, address: str, amount: int) -> None:
        self.balances[address.lower()] = self.balances.get(address.lower(), 0) + amount

    async def balance_of(self, address: str) -> int:
        return self.balances.get(address.lower(), self.faucet)

    def _refusal(self, *addresses: str) -> tuple[str, str] | None:
        """Why the token refuses a transfer between ``addresses``, as (code, words) like the
        chain adapter's PaymentRefused; None when it does not."""
        if self.token_paused:
            return "token_paused", "the token is paused by its issuer"
        if any(a.lower() in self.blocked for a in addresses):
            return "blocked", "the token issuer blocks the address"
        return None

    def _move(self, frm: str, to: str, amount: int) -> None:
        refused = self._refusal(frm, to)
        if refused is not None:
            raise PaymentError(f"The token refused the transfer: {refused[1]}.")
        for account in (frm.lower(), to.lower()):  # what balance_of showed before
            if account not in self.balances and account != FAKE_CONTRACT and self.faucet:
                self.balances[account] = self.faucet
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
            summary=f"Lock {format_usdc(terms.deposit)} for listing #{terms.listing_id}",
            escrow_id=self.escrow_id(terms),
        )

    async def prepare_extend(
        self, escrow_id: str, renter: str, amount: int, salt: str, valid_before: int
    ) -> SignatureRequest:
        message = {"id": escrow_id, "amount": amount, "salt": salt, "validBefore": valid_before}
        payload = {"primaryType": "Extend", "message": {**message, "from": renter.lower()}}
        return SignatureRequest(
            "extend", "eth_signTypedData_v4", payload, f"Add {amount} micro-USDC", escrow_id
        )

    async def prepare_stop(self, escrow_id: str, renter: str, deadline: int) -> SignatureRequest:
        message = {"id": escrow_id, "settle": True, "deadline": deadline, "from": renter.lower()}
        payload = {"primaryType": "Stop", "message": message}
        return SignatureRequest("stop", "eth_signTypedData_v4", payload, "Stop", escrow_id)

    async def prepare_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int
    ) -> SignatureRequest:
        message = {"id": escrow_id, "evidenceHash": evidence_hash, "deadline": deadline}
        payload = {"primaryType": "Dispute", "message": {**message, "from": signer.lower()}}
        return SignatureRequest("dispute", "eth_signTypedData_v4", payload, "Dispute", escrow_id)

    # -- transactions ----------------------------------------------------------------------
    async def open(self, terms: RentalTerms, renter: str, signature: str) -> ChainReceipt:
        if signature != fake_signature(renter, self._open_payload(terms, renter)):
            raise PaymentError("The signature does not match these rental terms.")
        eid = self.escrow_id(terms)
        if eid in self.rentals:
            raise PaymentError("This authorization was already used.")
        if self.clock.now() >= terms.quote_expiry:
            raise PaymentError("The quote expired before the payment arrived.")
        if terms.deposit < self.min_deposit:
            raise PaymentError("The deposit is below the escrow's minimum.")
        prepaid = paid_seconds(terms.deposit, terms.price_per_hour)
        if prepaid < self.min_prepaid_seconds:
            raise PaymentError("The prepaid time is outside what the escrow accepts.")
        self._move(renter, FAKE_CONTRACT, terms.deposit)
        self.locked += terms.deposit
        self.rentals[eid] = _Rental(
            terms, renter.lower(), terms.deposit, self.fee_bps, self.clock.now()
        )
        args = {"renter": renter, "deposit": terms.deposit, "provider": terms.provider_address}
        return self._receipt([("RentalOpened", eid, args)])

    async def start(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Pending")
        now = self.clock.now()
        r.status, r.started_at = "Active", now
        r.paid_until = now + paid_seconds(r.deposit, r.terms.price_per_hour)
        return self._receipt(
            [("RentalStarted", escrow_id, {"startedAt": now, "paidUntil": r.paid_until})]
        )

    async def extend(
        self,
        escrow_id: str,
        renter: str,
        amount: int,
        salt: str,
        valid_before: int,
        signature: str,
    ) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        req = await self.prepare_extend(escrow_id, renter, amount, salt, valid_before)
        if signature != fake_signature(renter, req.payload) or salt in self.used_salts:
            raise PaymentError("The extension signature is not valid.")
        if self.clock.now() >= r.paid_until or self.clock.now() > valid_before:
            raise PaymentError("The prepaid time already ran out.")
        self._move(renter, FAKE_CONTRACT, amount)
        self.used_salts.add(salt)
        self.locked += amount
        r.deposit += amount
        r.paid_until = r.started_at + paid_seconds(r.deposit, r.terms.price_per_hour)
        args = {"added": amount, "deposit": r.deposit, "paidUntil": r.paid_until}
        return self._receipt([("RentalExtended", escrow_id, args)])

    async def stop_and_settle(
        self, escrow_id: str, renter: str, signature: str, deadline: int
    ) -> ChainReceipt:
        r = self._get(escrow_id, "Active", "Ended")
        req = await self.prepare_stop(escrow_id, renter, deadline)
        if signature != fake_signature(renter, req.payload) or self.clock.now() > deadline:
            raise PaymentError("The stop signature is not valid.")
        events = self._end(escrow_id, r) if r.status == "Active" else []
        return self._receipt(events + self._settle(escrow_id, r, self._billed(r)))

    async def stop_expired(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Active")
        if self.clock.now() < r.paid_until:
            raise PaymentError("The prepaid time has not run out yet.")
        return self._receipt(self._end(escrow_id, r))

    async def finalize(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Pending", "Active", "Ended", "Disputed")
        now, events = self.clock.now(), []
        due = {
            "Pending": r.opened_at + 3600,
            "Active": r.paid_until + self.challenge_window,
            "Ended": r.ended_at + self.challenge_window,
            "Disputed": r.disputed_at + self.arbiter_timeout,
        }[r.status]
        if now < due:
            raise PaymentError("Too early: the escrow's waiting time is not over yet.")
        if r.status == "Pending":
            return await self.cancel_pending(escrow_id)
        if r.status == "Active":
            events = self._end(escrow_id, r)
        elif r.status == "Disputed":
            events = [("DisputeTimedOut", escrow_id, {})]
        return self._receipt(events + self._settle(escrow_id, r, self._billed(r)))

    async def cancel_pending(self, escrow_id: str) -> ChainReceipt:
        r = self._get(escrow_id, "Pending")
        r.status = "Closed"
        self.locked -= r.deposit
        return self._receipt(
            [
                ("RentalCancelled", escrow_id, {}),
                ("RentalSettled", escrow_id, {"providerNet": 0, "fee": 0, "refund": r.deposit}),
                *self._push(escrow_id, r.renter, r.deposit),
            ]
        )

    async def open_dispute(
        self, escrow_id: str, signer: str, evidence_hash: str, deadline: int, signature: str
    ) -> ChainReceipt:
        r = self._get(escrow_id, "Active", "Ended")
        req = await self.prepare_dispute(escrow_id, signer, evidence_hash, deadline)
        parties = (r.renter, r.terms.provider_address.lower())
        if signature != fake_signature(signer, req.payload) or signer.lower() not in parties:
            raise PaymentError("The dispute signature is not valid.")
        events = self._end(escrow_id, r) if r.status == "Active" else []
        if self.clock.now() >= r.ended_at + self.challenge_window:
            raise PaymentError("Too late: the challenge window has closed.")
        r.status, r.disputed_at = "Disputed", self.clock.now()
        events.append(("DisputeOpened", escrow_id, {"evidenceHash": evidence_hash}))
        return self._receipt(events)

    async def resolve(self, escrow_id: str, provider_gross: int) -> ChainReceipt:
        """The arbiter's split (tests): at most the time-based bill goes to the provider."""
        if not self.arbiter_available:
            raise PaymentError("No arbiter key is configured; finalize decides.")
        r = self._get(escrow_id, "Disputed")
        if self.clock.now() >= r.disputed_at + self.arbiter_timeout:
            raise PaymentError("Too late: the arbiter timeout has passed.")
        if provider_gross > self._billed(r):
            raise PaymentError("The award exceeds the bill.")
        resolved = ("DisputeResolved", escrow_id, {"providerGross": provider_gross})
        return self._receipt([resolved, *self._settle(escrow_id, r, provider_gross)])

    # -- internals ---------------------------------------------------------------------------
    def _get(self, escrow_id: str, *statuses: str) -> _Rental:
        r = self.rentals.get(escrow_id)
        if r is None:
            raise PaymentError("The escrow knows no such rental.")
        if r.status not in statuses:
            raise PaymentError(f"The escrow has this rental as {r.status}, not {statuses[0]}.")
        return r

    def _billed(self, r: _Rental) -> int:
        return billed(min(r.ended_at, r.paid_until) - r.started_at, r.terms.price_per_hour)

    def _end(self, escrow_id: str, r: _Rental) -> Events:
        r.status, r.ended_at = "Ended", min(self.clock.now(), r.paid_until)
        return [("RentalEnded", escrow_id, {"endedAt": r.ended_at})]

    def _settle(self, escrow_id: str, r: _Rental, gross: int) -> Events:
        fee = platform_fee(gross, r.fee_bps)
        net, refund = gross - fee, r.deposit - gross
        r.status = "Closed"
        self.locked -= r.deposit
        self.fees_accrued += fee
        args = {"providerNet": net, "fee": fee, "refund": refund}
        return [
            ("RentalSettled", escrow_id, args),
            *self._push(escrow_id, r.terms.provider_address, net),
            *self._push(escrow_id, r.renter, refund),
        ]

    def _push(self, escrow_id: str, to: str, amount: int) -> Events:
        """The contract's push payment: a transfer the token refuses is parked for a claim."""
        if amount == 0:
            return []
        if self._refusal(FAKE_CONTRACT, to) is not None:
            self.claimable_of[to.lower()] = self.claimable_of.get(to.lower(), 0) + amount
            return [("PushFailed", escrow_id, {"to": to, "amount": amount})]
        self._move(FAKE_CONTRACT, to, amount)
        return []

    # -- parked payments -------------------------------------------------------------------
    async def claimable(self, address: str) -> int:
        return self.claimable_of.get(address.lower(), 0)

    async def claim_for(self, address: str) -> ChainReceipt:
        """``claimFor`` (and the owner's own ``claim``): pays everything parked at once; a
        refusal changes nothing, as the relayer's dry run would."""
        amount = self.claimable_of.get(address.lower(), 0)
        if amount == 0:
            raise PaymentRefused(
                "nothing is parked for the address any more", key="nothing_to_claim"
            )
        refused = self._refusal(FAKE_CONTRACT, address)
        if refused is not None:
            raise PaymentRefused(refused[1], key=refused[0])
        self.claimable_of[address.lower()] = 0
        self._move(FAKE_CONTRACT, address, amount)
        args = {"account": address, "amount": amount}
        return self._receipt([("Claimed", address.lower(), args)])

    def _receipt(self, events: Events) -> ChainReceipt:
        self._tx += 1
        self._block += 1
        tx = "0x" + hashlib.sha256(f"tx{self._tx}".encode()).hexdigest()
        evs = tuple(
            ChainEvent(tx, i, self._block, name, eid, args)
            for i, (name, eid, args) in enumerate(events)
        )
        self.events.extend(evs)
        return ChainReceipt(tx, self._block, 50_000 * len(events), evs)
