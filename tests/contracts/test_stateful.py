"""Stateful property test: random rentals, actions, token failures and time jumps.

A Python model predicts, for every step, whether the contract accepts the call and what it
pays; the test fails on any disagreement. After every step it checks the solvency invariant
``balanceOf(escrow) >= locked + claimable + feesAccrued`` (here with equality: nothing is sent
to the escrow outside the rules) and the model's totals; every ``RentalSettled`` must satisfy
``providerNet + fee + refund == deposit``. At the end of each run the clock jumps past every
timeout, ``finalize`` closes everything, all parked payments are claimed and the fees swept:
the escrow ends empty.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from contracts.typed_data import (
    RentalTerms,
    dispute_message,
    listing_id_bytes,
    open_authorization,
    rental_id,
    split_signature,
    stop_message,
)
from tests.contracts.sandbox import DAY, HOUR, USDC, Reverted, Sandbox

RENTERS = ("renter", "renter2")
PROVIDERS = ("provider", "provider2")
PARTIES = RENTERS + PROVIDERS
PENDING, ACTIVE, ENDED, DISPUTED, CLOSED = 1, 2, 3, 4, 5

# weighted: the lifecycle actions dominate, token mishaps and fee changes are occasional
ACTIONS = (
    *["open"] * 2,
    *["start"] * 4,
    *["extend"] * 2,
    *["stop"] * 2,
    *["stop_and_settle"] * 2,
    *["dispute"] * 2,
    *["resolve"] * 2,
    *["finalize"] * 3,
    "cancel",
    *["claim"] * 2,
    "withdraw_fees",
    "blocklist",
    "pause",
    "fee",
    *["jump"] * 5,
)
_prices = st.integers(100_000, 5 * USDC)
_prepaids = st.integers(600, 6 * HOUR)

# >= 2,000 steps in CI: MAX_EXAMPLES * STEPS; override with CONTRACT_STATEFUL_EXAMPLES.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_STATEFUL_EXAMPLES", "45"))
STEPS = 50
MIN_TOTAL_STEPS = 2_000

_sandbox: Sandbox | None = None
_steps_run = 0


def _shared_sandbox() -> Sandbox:
    global _sandbox
    if _sandbox is None:
        sb = Sandbox()
        for who in RENTERS:
            sb.mint(who, 10**6 * USDC)
            sb.send(sb.token.functions.approve(sb.escrow.address, 2**256 - 1), who)
        _sandbox = sb
    return _sandbox


@dataclass
class Model:
    id: bytes
    renter: str
    provider: str
    deposit: int
    price: int
    fee_bps: int
    opened_at: int
    status: int = PENDING
    started_at: int = 0
    ended_at: int = 0
    disputed_at: int = 0

    @property
    def paid_until(self) -> int:
        return self.started_at + self.deposit * 3600 // self.price

    def billed(self) -> int:
        return (self.ended_at - self.started_at) * self.price // 3600


@dataclass
class World:
    rentals: list[Model] = field(default_factory=list)
    claimable: dict[str, int] = field(default_factory=dict)
    fees: int = 0
    fee_bps: int = 1200
    paused: bool = False
    blocked: set[str] = field(default_factory=set)


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sb = _shared_sandbox()
        self.snap = self.sb.snapshot()
        self.w = World()
        self.f = self.sb.escrow.functions
        self.token_domain = self.sb.token_domain()
        self.escrow_domain = self.sb.escrow_domain()
        self.p = self.sb.params
        self.counter = 0

    # ------------------------------------------------------------ plumbing

    def _expect(self, ok: bool, call, sender: str, what: str):
        try:
            receipt = self.sb.send(call, sender)
        except Reverted as exc:
            assert not ok, f"{what} reverted unexpectedly: {exc}"
            return None
        assert ok, f"{what} succeeded but the model expected a revert"
        return receipt

    def _pick(self, index: int, applies) -> Model:
        """Mostly a rental the action applies to now (``applies(m, now)``), sometimes any."""
        now = self.sb.next_timestamp()
        wanted = [m for m in self.w.rentals if applies(m, now)]
        pool = wanted if wanted and index % 5 else self.w.rentals
        return pool[(index // 5) % len(pool)]

    # what the contract must accept, per action (used to pick and to predict)
    def _can_start(self, m: Model, now: int) -> bool:
        return m.status == PENDING and now < m.opened_at + self.p.accept_timeout

    def _can_extend(self, m: Model, now: int) -> bool:
        return m.status == ACTIVE and now < m.paid_until and not self._push_fails(m.renter)

    def _can_dispute(self, m: Model, now: int) -> bool:
        if m.status == ACTIVE:
            return now < min(now, m.paid_until) + self.p.challenge_window
        return m.status == ENDED and now < m.ended_at + self.p.challenge_window

    def _can_resolve(self, m: Model, now: int) -> bool:
        return m.status == DISPUTED and now < m.disputed_at + self.p.arbiter_timeout

    def _can_finalize(self, m: Model, now: int) -> bool:
        if m.status == PENDING:
            return now >= m.opened_at + self.p.accept_timeout
        if m.status == ACTIVE:
            return now >= m.paid_until + self.p.challenge_window
        if m.status == ENDED:
            return now >= m.ended_at + self.p.challenge_window
        if m.status == DISPUTED:
            return now >= m.disputed_at + self.p.arbiter_timeout
        return False

    @staticmethod
    def _is(*statuses: int):
        return lambda m, now: m.status in statuses

    def _push_fails(self, who: str) -> bool:
        return self.w.paused or who in self.w.blocked

    def _park(self, who: str, amount: int) -> None:
        if amount > 0 and self._push_fails(who):
            self.w.claimable[who] = self.w.claimable.get(who, 0) + amount

    def _settle(self, m: Model, receipt, gross: int) -> None:
        fee = gross * m.fee_bps // 10_000
        net, refund = gross - fee, m.deposit - gross
        (ev,) = self.sb.events(receipt, "RentalSettled")
        assert (ev["providerNet"], ev["fee"], ev["refund"]) == (net, fee, refund)
        assert ev["providerNet"] + ev["fee"] + ev["refund"] == m.deposit
        parked = {(e["to"], e["amount"]) for e in self.sb.events(receipt, "PushFailed")}
        expected = set()
        for who, amount in ((m.provider, net), (m.renter, refund)):
            if amount > 0 and self._push_fails(who):
                expected.add((self.sb.addr(who), amount))
            self._park(who, amount)
        assert parked == expected
        self.w.fees += fee
        m.status = CLOSED

    def _end(self, m: Model, now: int) -> None:
        m.ended_at = min(now, m.paid_until)
        m.status = ENDED

    # --------------------------------------------------------------- rules

    # One rule with a weighted choice of action (rather than one rule per action): Hypothesis
    # switches whole rules off per run ("swarm testing"), which starved the lifecycle actions.
    @initialize(
        first=st.lists(st.tuples(_prices, _prepaids, st.booleans()), min_size=2, max_size=3)
    )
    def open_some(self, first: list[tuple[int, int, bool]]) -> None:
        for i, (price, prepaid, gasless) in enumerate(first):
            self._open(RENTERS[i % 2], PROVIDERS[i % 2], price, prepaid, gasless)

    @rule(
        action=st.sampled_from(ACTIONS),
        index=st.integers(0, 10**6),
        who=st.integers(0, 3),
        flag=st.booleans(),
        amount=st.integers(1, 5 * USDC),
        share=st.integers(0, 1000),
        price=_prices,
        prepaid=_prepaids,
        seconds=st.one_of(
            st.integers(1, 900),
            st.integers(1, 900),
            st.sampled_from([59, 600, HOUR - 1, HOUR, 3 * HOUR, DAY - 1, DAY, 7 * DAY]),
        ),
    )
    def step(
        self,
        action: str,
        index: int,
        who: int,
        flag: bool,
        amount: int,
        share: int,
        price: int,
        prepaid: int,
        seconds: int,
    ) -> None:
        global _steps_run
        _steps_run += 1
        if action == "open":
            self._open(RENTERS[who % 2], PROVIDERS[who // 2 % 2], price, prepaid, flag)
        elif action == "jump":
            self.sb.advance(seconds)
        elif action == "claim":
            owed = sorted(p for p, amount in self.w.claimable.items() if amount)
            self._claim(owed[index % len(owed)] if owed and index % 5 else PARTIES[who], flag)
        elif action == "withdraw_fees":
            ok = self.w.fees > 0 and not self.w.paused
            if self._expect(ok, self.f.withdrawFees(), "stranger", "withdrawFees"):
                self.w.fees = 0
        elif action == "blocklist":
            self._toggle_blocklist(PARTIES[who])
        elif action == "pause":
            fn = self.sb.token.functions
            self.sb.send(fn.unpause() if self.w.paused else fn.pause(), "deployer")
            self.w.paused = not self.w.paused
        elif action == "fee":
            bps = 1000 + share // 2
            self.sb.send(self.f.setFeeBps(bps), "deployer")
            self.w.fee_bps = bps
        elif self.w.rentals:
            getattr(self, "_" + action)(index, who, flag, amount, share)

    # ------------------------------------------------------------- actions

    def _open(self, renter: str, provider: str, price: int, prepaid: int, gasless: bool) -> None:
        now = self.sb.next_timestamp()
        self.counter += 1
        deposit = max(USDC, -(-prepaid * price // 3600))
        terms = RentalTerms(
            provider=self.sb.addr(provider),
            price_per_hour=price,
            deposit=deposit,
            listing_id=listing_id_bytes(self.counter),
            quote_expiry=now + 900,
            salt=keccak(text=f"stateful:{now}:{self.counter}"),
        )
        if gasless:
            typed = open_authorization(
                terms, self.sb.addr(renter), self.token_domain, self.sb.escrow.address
            )
            v, r, s = split_signature(self.sb.sign_typed(renter, typed))
            call = self.f.openWithAuthorization(terms.as_tuple(), self.sb.addr(renter), v, r, s)
            sender = "operator"
        else:
            call, sender = self.f.open(terms.as_tuple()), renter
        ok = not self._push_fails(renter)
        if self._expect(ok, call, sender, "open"):
            rid = rental_id(
                terms, self.sb.addr(renter), self.sb.w3.eth.chain_id, self.sb.escrow.address
            )
            self.w.rentals.append(
                Model(rid, renter, provider, deposit, price, self.w.fee_bps, opened_at=now)
            )

    def _start(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._can_start), self.sb.next_timestamp()
        sender = m.provider if flag else "operator"
        ok = self._can_start(m, now)
        if self._expect(ok, self.f.start(m.id), sender, "start"):
            m.status, m.started_at = ACTIVE, now

    def _cancel(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._is(PENDING)), self.sb.next_timestamp()
        by = ("renter", "provider", "operator", "stranger")[who]
        sender = {"renter": m.renter, "provider": m.provider}.get(by, by)
        ok = m.status == PENDING and (
            by != "stranger" or now >= m.opened_at + self.p.accept_timeout
        )
        if receipt := self._expect(ok, self.f.cancelPending(m.id), sender, "cancel"):
            self._settle(m, receipt, 0)

    def _extend(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._can_extend), self.sb.next_timestamp()
        ok = self._can_extend(m, now)
        if flag:
            receipt = None
            try:
                receipt = self.sb.extend_by_authorization(m.id, amount, renter=m.renter)
            except Reverted as exc:
                assert not ok, f"extend by authorization reverted unexpectedly: {exc}"
            else:
                assert ok, "extend by authorization succeeded but the model expected a revert"
        else:
            receipt = self._expect(ok, self.f.extend(m.id, amount), m.renter, "extend")
        if receipt:
            m.deposit += amount
            (ev,) = self.sb.events(receipt, "RentalExtended")
            assert (ev["deposit"], ev["paidUntil"]) == (m.deposit, m.paid_until)

    def _stop(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._is(ACTIVE)), self.sb.next_timestamp()
        by = ("renter", "provider", "stranger", "renter")[who]
        if flag and by == "renter":
            deadline = now + 60
            typed = stop_message(self.escrow_domain, m.id, False, deadline)
            sig = self.sb.sign_typed(m.renter, typed)
            call, sender = self.f.stopWithSignature(m.id, False, deadline, sig), "operator"
            ok = m.status == ACTIVE
        else:
            sender = {"renter": m.renter, "provider": m.provider}.get(by, by)
            call = self.f.stop(m.id)
            ok = m.status == ACTIVE and (by != "stranger" or now >= m.paid_until)
        if self._expect(ok, call, sender, "stop"):
            self._end(m, now)

    def _stop_and_settle(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._is(ACTIVE, ENDED)), self.sb.next_timestamp()
        if flag:
            deadline = now + 60
            typed = stop_message(self.escrow_domain, m.id, True, deadline)
            sig = self.sb.sign_typed(m.renter, typed)
            call, sender = self.f.stopWithSignature(m.id, True, deadline, sig), "stranger"
        else:
            call, sender = self.f.stopAndSettle(m.id), m.renter
        ok = m.status in (ACTIVE, ENDED)
        if receipt := self._expect(ok, call, sender, "stopAndSettle"):
            if m.status == ACTIVE:
                self._end(m, now)
            self._settle(m, receipt, m.billed())

    def _dispute(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._can_dispute), self.sb.next_timestamp()
        party = m.renter if who % 2 else m.provider
        evidence = keccak(text=f"evidence:{now}")
        if flag:
            deadline = now + 60
            typed = dispute_message(self.escrow_domain, m.id, evidence, deadline)
            sig = self.sb.sign_typed(party, typed)
            call = self.f.openDisputeWithSignature(
                m.id, evidence, self.sb.addr(party), deadline, sig
            )
            sender = "operator"
        else:
            call, sender = self.f.openDispute(m.id, evidence), party
        if self._expect(self._can_dispute(m, now), call, sender, "dispute"):
            if m.status == ACTIVE:
                self._end(m, now)
            m.status, m.disputed_at = DISPUTED, now

    def _resolve(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        m, now = self._pick(index, self._can_resolve), self.sb.next_timestamp()
        ok = self._can_resolve(m, now)
        gross = m.billed() * share // 1000 if m.status == DISPUTED else 0
        if receipt := self._expect(ok, self.f.resolve(m.id, gross), "arbiter", "resolve"):
            self._settle(m, receipt, gross)

    def _finalize(self, index: int, who: int, flag: bool, amount: int, share: int) -> None:
        self._finalize_rental(self._pick(index, self._can_finalize))

    def _finalize_rental(self, m: Model) -> None:
        now = self.sb.next_timestamp()
        ok = self._can_finalize(m, now)
        if receipt := self._expect(ok, self.f.finalize(m.id), "stranger", "finalize"):
            if m.status == PENDING:
                self._settle(m, receipt, 0)
                return
            if m.status == ACTIVE:
                self._end(m, now)
            self._settle(m, receipt, m.billed())

    def _claim(self, who: str, for_them: bool) -> None:
        owed = self.w.claimable.get(who, 0)
        ok = owed > 0 and not self._push_fails(who)
        if for_them:
            call, sender = self.f.claimFor(self.sb.addr(who)), "operator"
        else:
            call, sender = self.f.claim(), who
        if self._expect(ok, call, sender, "claim"):
            self.w.claimable[who] = 0

    def _toggle_blocklist(self, who: str) -> None:
        fn = self.sb.token.functions
        if who in self.w.blocked:
            self.sb.send(fn.unBlocklist(self.sb.addr(who)), "deployer")
            self.w.blocked.discard(who)
        else:
            self.sb.send(fn.blocklist(self.sb.addr(who)), "deployer")
            self.w.blocked.add(who)

    # ----------------------------------------------------------- invariants

    @invariant()
    def solvent_and_books_match(self) -> None:
        held = self.sb.token.functions.balanceOf(self.sb.escrow.address).call()
        locked = self.f.totalLocked().call()
        claimable = self.f.totalClaimable().call()
        fees = self.f.feesAccrued().call()
        assert held >= locked + claimable + fees
        assert held == locked + claimable + fees
        assert locked == sum(m.deposit for m in self.w.rentals if m.status != CLOSED)
        assert claimable == sum(self.w.claimable.values())
        assert fees == self.w.fees

    def teardown(self) -> None:
        try:
            self._close_everything()
        finally:
            self.sb.revert(self.snap)

    def _close_everything(self) -> None:
        fn = self.sb.token.functions
        if self.w.paused:
            self.sb.send(fn.unpause(), "deployer")
            self.w.paused = False
        for who in sorted(self.w.blocked):
            self.sb.send(fn.unBlocklist(self.sb.addr(who)), "deployer")
        self.w.blocked.clear()
        longest = (
            self.p.accept_timeout + 7 * HOUR + self.p.challenge_window + self.p.arbiter_timeout
        )
        horizon = max((m.paid_until for m in self.w.rentals if m.started_at), default=0)
        self.sb.set_next_timestamp(max(self.sb.next_timestamp(), horizon) + longest)
        for m in self.w.rentals:
            if m.status != CLOSED:
                self._finalize_rental(m)
        statuses = {self.f.getRental(m.id).call()[0] for m in self.w.rentals}
        assert statuses <= {CLOSED}
        assert self.f.totalLocked().call() == 0
        for who, owed in sorted(self.w.claimable.items()):
            if owed:
                self.sb.send(self.f.claimFor(self.sb.addr(who)), "operator")
                self.w.claimable[who] = 0
        if self.w.fees:
            self.sb.send(self.f.withdrawFees(), "stranger")
        assert self.sb.token.functions.balanceOf(self.sb.escrow.address).call() == 0


def _in_fresh_thread(fn) -> None:
    """Runs ``fn`` on a new thread and re-raises what it raised.

    CPython 3.11 allocates its frame stack in 16 KiB chunks and frees a chunk as soon as the
    stack shrinks below it; at pytest's call depth py-evm's interpreter loop kept crossing such
    a boundary (about 700k mmap/munmap pairs per 50 steps, doubling the run time). A new thread
    starts with a shallow, fresh frame stack.
    """
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=target, name="escrow-state-machine")
    worker.start()
    worker.join()
    if outcome:
        raise outcome[0]


def test_escrow_state_machine() -> None:
    global _steps_run
    _steps_run = 0
    _in_fresh_thread(_run_machine)
    print(f"stateful escrow test: {_steps_run} steps in {MAX_EXAMPLES} runs")
    if "CONTRACT_STATEFUL_EXAMPLES" not in os.environ:
        assert _steps_run >= MIN_TOTAL_STEPS, f"only {_steps_run} steps ran"


def _run_machine() -> None:
    run_state_machine_as_test(
        EscrowMachine,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
