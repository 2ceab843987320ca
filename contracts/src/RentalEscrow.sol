// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/**
 * @title RentalEscrow
 * @notice Non-custodial USDC escrow for rigshare GPU rentals (specification: ESCROW.md).
 *
 * A renter locks a prepaid deposit for one rental; billing is per second between `start` and the
 * end of the rental, capped at `paidUntil`; one settlement pays the provider (minus the platform
 * fee) and refunds the unused deposit. Nobody, the owner included, can move a renter's deposit
 * except through the settlement rules below, and every waiting state ends by itself after a
 * timeout.
 *
 * State machine (per rental):
 *   None -open*-> Pending -start-> Active -stop / expiry-> Ended -finalize-> Closed
 *   Pending -cancelPending-> Closed;  Active/Ended -openDispute-> Disputed -resolve/finalize-> Closed
 *
 * Money (integer micro-USDC, all divisions floor):
 *   paidUntil   = startedAt + deposit * 3600 / pricePerHour
 *   billed      = (min(endedAt, paidUntil) - startedAt) * pricePerHour / 3600
 *   fee         = billed * feeBps / 10000;  providerNet = billed - fee;  refund = deposit - billed
 *   (arbiter path: `providerGross` in place of `billed`);  providerNet + fee + refund == deposit.
 *
 * Signature encodings (all `abi.encode`, i.e. 32-byte words):
 *   termsHash = keccak256(abi.encode(provider, pricePerHour, deposit, listingId, quoteExpiry, salt,
 *               block.chainid, address(this)))  -- identical to abi.encode(Terms, chainid, this);
 *               it is the EIP-3009 `nonce` of the opening authorization.
 *   rentalId  = keccak256(abi.encode(termsHash, renter)).
 *   extend nonce = keccak256(abi.encode(EXTEND_NONCE_TAG, rentalId, amount, salt)).
 *   EIP-712 domain of this contract: name "RigshareEscrow", version "1", chainId, verifyingContract;
 *   Stop(bytes32 id,bool settle,uint256 deadline), Dispute(bytes32 id,bytes32 evidenceHash,uint256 deadline).
 *
 * Deviations from / precisions of ESCROW.md, with reasons:
 *  1. The rental id also commits to the renter, so that someone copying a pending transaction's
 *     terms cannot squat its id with their own deposit.
 *  2. The opening authorization uses validAfter = 0 and validBefore = quoteExpiry, fixed by the
 *     contract: the renter's one signature then expires with the quote, and calldata is smaller.
 *  3. `start` is refused from ACCEPT_TIMEOUT on: a renter who walked away expecting the automatic
 *     refund must not start being billed.
 *  4. An Active rental whose paidUntil has passed is treated as Ended at paidUntil ("expiry"):
 *     `finalize`, `openDispute` and `stopAndSettle` accept it without a separate `stop`, and a
 *     late `stop` records endedAt = paidUntil so the challenge window runs from the real end.
 *  5. Opening a dispute while Active ends the rental at that moment (billing is frozen while the
 *     arbiter looks at it); `RentalEnded` is emitted as well.
 *  6. `finalize` also closes a Pending rental after ACCEPT_TIMEOUT (a full refund, like
 *     `cancelPending` by anyone), so one keeper call closes anything that has timed out.
 *  7. Cancelling emits `RentalCancelled` and `RentalSettled(id, 0, 0, deposit)`, so every closed
 *     rental has exactly one `RentalSettled`. A dispute closed by the arbiter timeout emits
 *     `DisputeTimedOut`.
 *  8. `pause` stops `open*` only (the spec's "NEW rentals"); `extend` of a running rental, and all
 *     exits, are never paused.
 *  9. `extend` (by transaction or authorization) is the renter's only; the authorization's `from`
 *     is always the rental's renter. A signed `Stop` carries a `settle` flag so a renter without
 *     gas can also waive the challenge window (the signed form of `stopAndSettle`).
 * 10. Prepaid time is capped at MAX_PREPAID_SECONDS (10 years) so timestamps fit in 40 bits.
 *     Deposits and prices are stored in 64 bits (18 trillion USDC): terms or an extension beyond
 *     that revert with AmountTooLarge instead of being truncated. This packs the money, the
 *     open/start/end clocks and the status into one slot, so start, stop and settle write one.
 * 11. ACCEPT_TIMEOUT, CHALLENGE_WINDOW and ARBITER_TIMEOUT are immutables chosen at deployment
 *     within hard bounds (a development chain wants minutes, production hours/days).
 * 12. The operator (relayer) is one global, owner-rotatable address (a leaked relayer key must be
 *     replaceable at once); its powers over a rental are only `start` and `cancelPending`. Fee and
 *     arbiter are snapshotted per rental as specified.
 * 13. `claim()` pays the caller; `claimFor(account)` lets anyone (e.g. the operator) retry a
 *     parked payment to that same account, so providers never need gas. There is no way to
 *     redirect a parked payment elsewhere (that would circumvent the token's blocklist).
 * 14. Signed Stop/Dispute messages accept ERC-1271 contract wallets as well as EOAs.
 * 15. `sweepSurplus()` sends only the token balance above locked + claimable + feesAccrued (tokens
 *     sent here by mistake) to the treasury; nothing else can leave except by settlement.
 */
contract RentalEscrow is Ownable2Step, EIP712 {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types

    enum Status {
        None,
        Pending,
        Active,
        Ended,
        Disputed,
        Closed
    }

    /// @notice Rental terms the renter commits to with the opening signature.
    struct Terms {
        address provider;
        uint96 pricePerHour; // micro-USDC per hour
        uint96 deposit; // micro-USDC
        bytes32 listingId;
        uint40 quoteExpiry; // unix seconds; open must happen strictly before
        bytes32 salt;
    }

    /// @dev Three storage slots. Slot 0 holds the money, every clock but the dispute's and the
    /// status, so start, stop and settle write one slot; slot 1 the renter and the snapshots
    /// taken at open; slot 2 the provider. Amounts are stored in 64 bits (18 trillion USDC;
    /// larger terms are refused), times in 40 bits (MAX_PREPAID_SECONDS keeps them there).
    struct Rental {
        // slot 0
        uint64 deposit;
        uint64 pricePerHour;
        uint40 openedAt;
        uint40 startedAt;
        uint40 endedAt; // already capped at paidUntil
        Status status;
        // slot 1
        address renter;
        uint16 feeBps;
        uint32 arbiterIndex;
        uint40 disputedAt;
        // slot 2
        address provider;
    }

    /// @notice Full view of a rental, for off-chain readers.
    struct RentalView {
        Status status;
        address renter;
        address provider;
        address arbiter;
        uint256 deposit;
        uint256 pricePerHour;
        uint256 feeBps;
        uint256 openedAt;
        uint256 startedAt;
        uint256 paidUntil;
        uint256 endedAt;
        uint256 disputedAt;
        uint256 deadline; // next timeout of the current status (0 when there is none)
    }

    /// @notice Deployment parameters.
    struct Settings {
        address owner;
        address operator;
        address arbiter;
        address treasury;
        uint16 feeBps;
        uint96 minDeposit;
        uint32 minPrepaidSeconds;
        uint32 acceptTimeout;
        uint32 challengeWindow;
        uint32 arbiterTimeout;
    }

    /// @dev Owner-set parameters for new rentals, packed into one slot read once by `open`.
    struct Config {
        uint16 feeBps;
        bool paused;
        uint32 arbiterIndex;
        uint96 minDeposit;
        uint32 minPrepaidSeconds;
    }

    // ------------------------------------------------------------ constants

    uint256 public constant MIN_FEE_BPS = 1000;
    uint256 public constant MAX_FEE_BPS = 1500;
    uint256 private constant BPS = 10_000;
    uint256 private constant HOUR = 3600;
    uint256 public constant MAX_PREPAID_SECONDS = 3650 days;
    uint256 public constant MAX_ACCEPT_TIMEOUT = 7 days;
    uint256 public constant MAX_CHALLENGE_WINDOW = 30 days;
    uint256 public constant MAX_ARBITER_TIMEOUT = 90 days;

    bytes32 public constant EXTEND_NONCE_TAG = keccak256("rigshare.RentalEscrow.extend");
    bytes32 public constant STOP_TYPEHASH = keccak256("Stop(bytes32 id,bool settle,uint256 deadline)");
    bytes32 public constant DISPUTE_TYPEHASH =
        keccak256("Dispute(bytes32 id,bytes32 evidenceHash,uint256 deadline)");

    uint8 private constant UNLOCKED = 1;
    uint8 private constant LOCKED = 2;

    // ---------------------------------------------------------- immutables

    /// @notice The one token this escrow holds (native USDC in production).
    IERC20 public immutable token;
    uint256 public immutable ACCEPT_TIMEOUT;
    uint256 public immutable CHALLENGE_WINDOW;
    uint256 public immutable ARBITER_TIMEOUT;

    // -------------------------------------------------------------- storage

    mapping(bytes32 id => Rental) private _rentals;

    /// @notice Sum of the deposits of all rentals that are not Closed.
    uint120 public totalLocked;
    /// @notice Platform fees settled and not yet withdrawn to the treasury.
    uint128 public feesAccrued;
    /// @dev Re-entrancy lock, packed with the totals that every guarded call touches anyway.
    uint8 private _lock;

    /// @notice Payments whose push failed (blocklisted or paused recipient), per recipient.
    mapping(address account => uint256 amount) public claimable;
    /// @notice Sum of `claimable`.
    uint256 public totalClaimable;

    Config private _config;
    address[] private _arbiters;
    /// @notice Receives the platform fees and any surplus.
    address public treasury;
    /// @notice The platform's relayer: may start or cancel pending rentals and relay signatures.
    address public operator;

    // --------------------------------------------------------------- events

    event RentalOpened(
        bytes32 indexed id,
        address indexed renter,
        address indexed provider,
        bytes32 listingId,
        uint256 deposit,
        uint256 pricePerHour,
        uint256 feeBps
    );
    event RentalStarted(bytes32 indexed id, uint256 startedAt, uint256 paidUntil);
    event RentalExtended(bytes32 indexed id, address indexed renter, uint256 added, uint256 deposit, uint256 paidUntil);
    event RentalEnded(bytes32 indexed id, address indexed by, uint256 endedAt);
    event RentalCancelled(bytes32 indexed id, address indexed by);
    event DisputeOpened(bytes32 indexed id, address indexed by, bytes32 evidenceHash);
    event DisputeResolved(bytes32 indexed id, address indexed arbiter, uint256 providerGross);
    event DisputeTimedOut(bytes32 indexed id);
    event RentalSettled(bytes32 indexed id, uint256 providerNet, uint256 fee, uint256 refund);
    event PushFailed(bytes32 indexed id, address indexed to, uint256 amount);
    event Claimed(address indexed account, uint256 amount);
    event FeesWithdrawn(address indexed treasury, uint256 amount);
    event SurplusSwept(address indexed treasury, uint256 amount);
    event FeeBpsChanged(uint256 feeBps);
    event ArbiterChanged(uint256 indexed index, address indexed arbiter);
    event TreasuryChanged(address indexed treasury);
    event OperatorChanged(address indexed operator);
    event MinimumsChanged(uint256 minDeposit, uint256 minPrepaidSeconds);
    event PausedChanged(bool paused);

    // --------------------------------------------------------------- errors

    error NewRentalsPaused();
    error QuoteExpired(uint256 quoteExpiry);
    error InvalidTerms();
    error DepositTooSmall(uint256 minDeposit);
    error PrepaidTimeOutOfRange(uint256 prepaidSeconds);
    error RentalExists(bytes32 id);
    error DepositShortfall(uint256 expected, uint256 received);
    error WrongStatus(Status status);
    error NotAuthorized();
    error TooEarly(uint256 notBefore);
    error TooLate(uint256 deadline);
    error SignatureExpired(uint256 deadline);
    error InvalidSignature();
    error AwardTooHigh(uint256 billed);
    error ZeroAmount();
    error NothingToClaim();
    error InvalidSetting();
    error Reentrancy();
    error AmountTooLarge(uint256 max);

    // ------------------------------------------------------------ modifiers

    modifier nonReentrant() {
        if (_lock == LOCKED) revert Reentrancy();
        _lock = LOCKED;
        _;
        _lock = UNLOCKED;
    }

    // ---------------------------------------------------------- constructor

    /// @param token_ the 6-decimal escrow token (immutable)
    /// @param s initial owner, operator, arbiter, treasury, fee, minimums and timeouts
    constructor(IERC20 token_, Settings memory s) Ownable(s.owner) EIP712("RigshareEscrow", "1") {
        if (address(token_).code.length == 0 || IERC20Metadata(address(token_)).decimals() != 6) {
            revert InvalidSetting();
        }
        if (s.acceptTimeout == 0 || s.acceptTimeout > MAX_ACCEPT_TIMEOUT) revert InvalidSetting();
        if (s.challengeWindow == 0 || s.challengeWindow > MAX_CHALLENGE_WINDOW) revert InvalidSetting();
        if (s.arbiterTimeout == 0 || s.arbiterTimeout > MAX_ARBITER_TIMEOUT) revert InvalidSetting();
        token = token_;
        ACCEPT_TIMEOUT = s.acceptTimeout;
        CHALLENGE_WINDOW = s.challengeWindow;
        ARBITER_TIMEOUT = s.arbiterTimeout;
        _lock = UNLOCKED; // keeps the totals slot non-zero: no 20k fresh-slot writes later
        _setFeeBps(s.feeBps);
        _setArbiter(s.arbiter);
        _setTreasury(s.treasury);
        _setMinimums(s.minDeposit, s.minPrepaidSeconds);
        operator = s.operator;
        emit OperatorChanged(s.operator);
    }

    // ------------------------------------------------------------------ open

    /**
     * @notice Opens a rental with one EIP-3009 `ReceiveWithAuthorization` signed by the renter
     * (value = deposit, validAfter = 0, validBefore = quoteExpiry, nonce = termsHash(t)).
     * Anyone (normally the operator) may relay it; changing any term breaks the signature.
     * @return id the rental id, keccak256(abi.encode(termsHash(t), renter))
     */
    function openWithAuthorization(Terms calldata t, address renter, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (bytes32 id)
    {
        bytes32 nonce;
        (id, nonce) = _open(t, renter);
        _receiveWithAuthorization(renter, t.deposit, t.quoteExpiry, nonce, v, r, s);
    }

    /// @notice Opens a rental paid by the caller, who approved the deposit beforehand.
    function open(Terms calldata t) external nonReentrant returns (bytes32 id) {
        (id,) = _open(t, msg.sender);
        _pullFrom(msg.sender, t.deposit);
    }

    /**
     * @notice Opens a rental paid by the caller with an EIP-2612 permit for exactly the deposit.
     * The permit is tried and its failure ignored (someone may have front-run it); the transfer
     * then needs the allowance to be in place.
     */
    function openWithPermit(Terms calldata t, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (bytes32 id)
    {
        (id,) = _open(t, msg.sender);
        try IERC20Permit(address(token)).permit(msg.sender, address(this), t.deposit, permitDeadline, v, r, s) {}
            catch {}
        _pullFrom(msg.sender, t.deposit);
    }

    // ----------------------------------------------------------------- start

    /// @notice Provider or operator: the machine is handed over, billing starts now.
    function start(bytes32 id) external {
        Rental storage rt = _rentals[id];
        if (rt.status != Status.Pending) revert WrongStatus(rt.status);
        if (msg.sender != operator && msg.sender != rt.provider) revert NotAuthorized();
        uint256 acceptDeadline = uint256(rt.openedAt) + ACCEPT_TIMEOUT;
        if (block.timestamp >= acceptDeadline) revert TooLate(acceptDeadline);
        rt.startedAt = uint40(block.timestamp);
        rt.status = Status.Active;
        emit RentalStarted(id, block.timestamp, _paidUntil(block.timestamp, rt.deposit, rt.pricePerHour));
    }

    /**
     * @notice Full refund of a rental that never started. Renter, operator or provider (decline)
     * at any time while Pending; anyone from ACCEPT_TIMEOUT on.
     */
    function cancelPending(bytes32 id) external nonReentrant {
        Rental storage rt = _rentals[id];
        if (rt.status != Status.Pending) revert WrongStatus(rt.status);
        if (msg.sender != rt.renter && msg.sender != operator && msg.sender != rt.provider) {
            uint256 acceptDeadline = uint256(rt.openedAt) + ACCEPT_TIMEOUT;
            if (block.timestamp < acceptDeadline) revert TooEarly(acceptDeadline);
        }
        _cancel(id, rt);
    }

    // ---------------------------------------------------------------- extend

    /// @notice Renter adds `amount` (approved beforehand) to an Active rental before paidUntil.
    function extend(bytes32 id, uint96 amount) external nonReentrant {
        Rental storage rt = _rentals[id];
        if (msg.sender != rt.renter) revert NotAuthorized();
        _extend(id, rt, msg.sender, amount);
        _pullFrom(msg.sender, amount);
    }

    /**
     * @notice Adds `amount` to an Active rental with the renter's EIP-3009 `ReceiveWithAuthorization`
     * (from = renter, to = this, value = amount, validAfter = 0, validBefore, nonce =
     * extendNonce(id, amount, salt)). Anyone may relay it.
     */
    function extendWithAuthorization(
        bytes32 id,
        uint96 amount,
        uint256 validBefore,
        bytes32 salt,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        Rental storage rt = _rentals[id];
        address renter = rt.renter;
        _extend(id, rt, renter, amount);
        _receiveWithAuthorization(renter, amount, validBefore, extendNonce(id, amount, salt), v, r, s);
    }

    // ------------------------------------------------------------------ stop

    /// @notice Ends an Active rental: renter or provider at any time, anyone from paidUntil on.
    function stop(bytes32 id) external {
        Rental storage rt = _rentals[id];
        if (rt.status != Status.Active) revert WrongStatus(rt.status);
        uint256 paidUntil = _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour);
        if (msg.sender != rt.renter && msg.sender != rt.provider && block.timestamp < paidUntil) {
            revert NotAuthorized();
        }
        _end(id, rt, paidUntil, msg.sender);
    }

    /**
     * @notice Relays the renter's EIP-712 `Stop(id, settle, deadline)`. With `settle` the renter
     * also waives the challenge window (the signed form of {stopAndSettle}).
     */
    function stopWithSignature(bytes32 id, bool settle, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Rental storage rt = _rentals[id];
        address renter = rt.renter;
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(STOP_TYPEHASH, id, settle, deadline)));
        if (renter == address(0) || !SignatureChecker.isValidSignatureNow(renter, digest, signature)) {
            revert InvalidSignature();
        }
        if (settle) {
            _stopAndSettle(id, rt, renter);
        } else {
            if (rt.status != Status.Active) revert WrongStatus(rt.status);
            _end(id, rt, _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour), renter);
        }
    }

    /// @notice Renter: ends the rental (if still Active) and settles at once, waiving the window.
    function stopAndSettle(bytes32 id) external nonReentrant {
        Rental storage rt = _rentals[id];
        if (msg.sender != rt.renter) revert NotAuthorized();
        _stopAndSettle(id, rt, msg.sender);
    }

    // --------------------------------------------------------------- dispute

    /// @notice Renter or provider: disputes while Active or inside CHALLENGE_WINDOW after the end.
    function openDispute(bytes32 id, bytes32 evidenceHash) external {
        Rental storage rt = _rentals[id];
        if (msg.sender != rt.renter && msg.sender != rt.provider) revert NotAuthorized();
        _dispute(id, rt, msg.sender, evidenceHash);
    }

    /// @notice Relays an EIP-712 `Dispute(id, evidenceHash, deadline)` signed by the renter or provider `by`.
    function openDisputeWithSignature(
        bytes32 id,
        bytes32 evidenceHash,
        address by,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Rental storage rt = _rentals[id];
        if (by == address(0) || (by != rt.renter && by != rt.provider)) revert NotAuthorized();
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(DISPUTE_TYPEHASH, id, evidenceHash, deadline)));
        if (!SignatureChecker.isValidSignatureNow(by, digest, signature)) revert InvalidSignature();
        _dispute(id, rt, by, evidenceHash);
    }

    /**
     * @notice The rental's arbiter (snapshotted at open) splits the time-based bill: the provider
     * gets `providerGross` (at most the bill, minus the fee), the renter the rest of the deposit.
     * Only while Disputed and before ARBITER_TIMEOUT.
     */
    function resolve(bytes32 id, uint256 providerGross) external nonReentrant {
        Rental storage rt = _rentals[id];
        if (rt.status != Status.Disputed) revert WrongStatus(rt.status);
        if (msg.sender != _arbiters[rt.arbiterIndex]) revert NotAuthorized();
        uint256 deadline = uint256(rt.disputedAt) + ARBITER_TIMEOUT;
        if (block.timestamp >= deadline) revert TooLate(deadline);
        uint256 billed = _billed(rt.startedAt, rt.endedAt, rt.pricePerHour);
        if (providerGross > billed) revert AwardTooHigh(billed);
        emit DisputeResolved(id, msg.sender, providerGross);
        _settle(id, rt, providerGross);
    }

    // -------------------------------------------------------------- finalize

    /**
     * @notice Anyone: closes a rental whose waiting time is over, with the objective time-based
     * bill: Ended (or expired Active) after CHALLENGE_WINDOW, Disputed after ARBITER_TIMEOUT,
     * Pending after ACCEPT_TIMEOUT (full refund).
     */
    function finalize(bytes32 id) external nonReentrant {
        Rental storage rt = _rentals[id];
        Status status = rt.status;
        uint256 notBefore;
        if (status == Status.Ended) {
            notBefore = uint256(rt.endedAt) + CHALLENGE_WINDOW;
            if (block.timestamp < notBefore) revert TooEarly(notBefore);
        } else if (status == Status.Active) {
            uint256 paidUntil = _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour);
            notBefore = paidUntil + CHALLENGE_WINDOW;
            if (block.timestamp < notBefore) revert TooEarly(notBefore);
            _end(id, rt, paidUntil, msg.sender);
        } else if (status == Status.Disputed) {
            notBefore = uint256(rt.disputedAt) + ARBITER_TIMEOUT;
            if (block.timestamp < notBefore) revert TooEarly(notBefore);
            emit DisputeTimedOut(id);
        } else if (status == Status.Pending) {
            notBefore = uint256(rt.openedAt) + ACCEPT_TIMEOUT;
            if (block.timestamp < notBefore) revert TooEarly(notBefore);
            _cancel(id, rt);
            return;
        } else {
            revert WrongStatus(status);
        }
        _settle(id, rt, _billed(rt.startedAt, rt.endedAt, rt.pricePerHour));
    }

    // ------------------------------------------------------------ withdrawals

    /// @notice Pays the caller what was parked for it after a failed push.
    function claim() external nonReentrant returns (uint256) {
        return _claim(msg.sender);
    }

    /// @notice Anyone: retries paying `account` what was parked for it (to `account` only).
    function claimFor(address account) external nonReentrant returns (uint256) {
        return _claim(account);
    }

    /// @notice Anyone: sends the accrued platform fees to the treasury.
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        amount = feesAccrued;
        if (amount == 0) revert ZeroAmount();
        feesAccrued = 0;
        address to = treasury;
        emit FeesWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @notice Anyone: sends tokens held above locked + claimable + fees (mistaken transfers) to the treasury.
    function sweepSurplus() external nonReentrant returns (uint256 amount) {
        uint256 owed = uint256(totalLocked) + totalClaimable + feesAccrued;
        uint256 balance = token.balanceOf(address(this));
        if (balance <= owed) revert ZeroAmount();
        amount = balance - owed;
        address to = treasury;
        emit SurplusSwept(to, amount);
        token.safeTransfer(to, amount);
    }

    // ------------------------------------------------------- owner (future only)

    /// @notice Platform fee for rentals opened from now on, within [MIN_FEE_BPS, MAX_FEE_BPS].
    function setFeeBps(uint16 feeBps_) external onlyOwner {
        _setFeeBps(feeBps_);
    }

    /// @notice Arbiter for rentals opened from now on (existing rentals keep theirs).
    function setArbiter(address arbiter_) external onlyOwner {
        _setArbiter(arbiter_);
    }

    /// @notice Where withdrawn fees and surplus go.
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    /// @notice Rotates the relayer key (its powers: start/cancel pending rentals).
    function setOperator(address operator_) external onlyOwner {
        operator = operator_;
        emit OperatorChanged(operator_);
    }

    /// @notice Minimum deposit and minimum prepaid time for rentals opened from now on.
    function setMinimums(uint96 minDeposit_, uint32 minPrepaidSeconds_) external onlyOwner {
        _setMinimums(minDeposit_, minPrepaidSeconds_);
    }

    /// @notice Pauses or resumes opening NEW rentals. Nothing else is ever paused.
    function setPaused(bool paused_) external onlyOwner {
        _config.paused = paused_;
        emit PausedChanged(paused_);
    }

    // ------------------------------------------------------------------ views

    /// @notice keccak256(abi.encode(t, block.chainid, address(this))): the opening EIP-3009 nonce.
    function termsHash(Terms calldata t) public view returns (bytes32) {
        return keccak256(abi.encode(t, block.chainid, address(this)));
    }

    /// @notice The id a rental opened with terms `t` by `renter` gets.
    function rentalId(Terms calldata t, address renter) external view returns (bytes32) {
        return keccak256(abi.encode(termsHash(t), renter));
    }

    /// @notice The EIP-3009 nonce the renter signs to add `amount` to rental `id`.
    function extendNonce(bytes32 id, uint96 amount, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(EXTEND_NONCE_TAG, id, amount, salt));
    }

    /// @notice EIP-712 domain separator for Stop and Dispute signatures.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Everything stored about rental `id`, with derived paidUntil, arbiter and deadline.
    function getRental(bytes32 id) external view returns (RentalView memory v) {
        Rental storage rt = _rentals[id];
        v.status = rt.status;
        v.renter = rt.renter;
        v.provider = rt.provider;
        v.deposit = rt.deposit;
        v.pricePerHour = rt.pricePerHour;
        v.feeBps = rt.feeBps;
        v.openedAt = rt.openedAt;
        v.startedAt = rt.startedAt;
        v.endedAt = rt.endedAt;
        v.disputedAt = rt.disputedAt;
        if (v.status == Status.None) return v;
        v.arbiter = _arbiters[rt.arbiterIndex];
        if (v.startedAt != 0) v.paidUntil = _paidUntil(v.startedAt, v.deposit, v.pricePerHour);
        if (v.status == Status.Pending) v.deadline = v.openedAt + ACCEPT_TIMEOUT;
        else if (v.status == Status.Active) v.deadline = v.paidUntil;
        else if (v.status == Status.Ended) v.deadline = v.endedAt + CHALLENGE_WINDOW;
        else if (v.status == Status.Disputed) v.deadline = v.disputedAt + ARBITER_TIMEOUT;
    }

    /// @notice The time-based bill so far (Active: up to now, capped at paidUntil; ended: final).
    function billedNow(bytes32 id) external view returns (uint256) {
        Rental storage rt = _rentals[id];
        if (rt.startedAt == 0) return 0;
        uint256 end = rt.endedAt;
        if (rt.status == Status.Active) {
            uint256 paidUntil = _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour);
            end = block.timestamp < paidUntil ? block.timestamp : paidUntil;
        }
        return _billed(rt.startedAt, end, rt.pricePerHour);
    }

    /// @notice The arbiter snapshotted for rental `id`.
    function arbiterOf(bytes32 id) external view returns (address) {
        Rental storage rt = _rentals[id];
        if (rt.status == Status.None) return address(0);
        return _arbiters[rt.arbiterIndex];
    }

    /// @notice Arbiter for new rentals.
    function arbiter() external view returns (address) {
        return _arbiters[_config.arbiterIndex];
    }

    /// @notice Fee (basis points) for new rentals.
    function feeBps() external view returns (uint256) {
        return _config.feeBps;
    }

    /// @notice Whether opening new rentals is paused.
    function paused() external view returns (bool) {
        return _config.paused;
    }

    /// @notice Minimum deposit for new rentals.
    function minDeposit() external view returns (uint256) {
        return _config.minDeposit;
    }

    /// @notice Minimum prepaid time (deposit * 3600 / pricePerHour) for new rentals.
    function minPrepaidSeconds() external view returns (uint256) {
        return _config.minPrepaidSeconds;
    }

    // -------------------------------------------------------------- internals

    /// @dev Validates terms, writes the Pending rental (before any external call) and locks the deposit.
    function _open(Terms calldata t, address renter) private returns (bytes32 id, bytes32 nonce) {
        Config memory c = _config;
        if (c.paused) revert NewRentalsPaused();
        if (block.timestamp >= t.quoteExpiry) revert QuoteExpired(t.quoteExpiry);
        address provider = t.provider;
        if (provider == address(0) || provider == renter || provider == address(this) || t.pricePerHour == 0) {
            revert InvalidTerms();
        }
        if (t.deposit > type(uint64).max || t.pricePerHour > type(uint64).max) revert AmountTooLarge(type(uint64).max);
        if (t.deposit < c.minDeposit) revert DepositTooSmall(c.minDeposit);
        uint256 prepaid = (uint256(t.deposit) * HOUR) / t.pricePerHour;
        if (prepaid < c.minPrepaidSeconds || prepaid > MAX_PREPAID_SECONDS) revert PrepaidTimeOutOfRange(prepaid);
        nonce = termsHash(t);
        id = keccak256(abi.encode(nonce, renter));
        Rental storage rt = _rentals[id];
        if (rt.status != Status.None) revert RentalExists(id);
        _rentals[id] = Rental({
            deposit: uint64(t.deposit),
            pricePerHour: uint64(t.pricePerHour),
            openedAt: uint40(block.timestamp),
            startedAt: 0,
            endedAt: 0,
            status: Status.Pending,
            renter: renter,
            feeBps: c.feeBps,
            arbiterIndex: c.arbiterIndex,
            disputedAt: 0,
            provider: provider
        });
        totalLocked += t.deposit;
        emit RentalOpened(id, renter, provider, t.listingId, t.deposit, t.pricePerHour, c.feeBps);
    }

    function _extend(bytes32 id, Rental storage rt, address renter, uint96 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (rt.status != Status.Active) revert WrongStatus(rt.status);
        uint256 startedAt = rt.startedAt;
        uint256 price = rt.pricePerHour;
        uint256 deposit = rt.deposit;
        uint256 paidUntil = _paidUntil(startedAt, deposit, price);
        if (block.timestamp >= paidUntil) revert TooLate(paidUntil);
        deposit += amount;
        if (deposit > type(uint64).max) revert AmountTooLarge(type(uint64).max);
        uint256 prepaid = (deposit * HOUR) / price;
        if (prepaid > MAX_PREPAID_SECONDS) revert PrepaidTimeOutOfRange(prepaid);
        rt.deposit = uint64(deposit);
        totalLocked += amount;
        emit RentalExtended(id, renter, amount, deposit, startedAt + prepaid);
    }

    function _end(bytes32 id, Rental storage rt, uint256 paidUntil, address by) private {
        uint256 endedAt = block.timestamp < paidUntil ? block.timestamp : paidUntil;
        rt.status = Status.Ended;
        rt.endedAt = uint40(endedAt);
        emit RentalEnded(id, by, endedAt);
    }

    function _stopAndSettle(bytes32 id, Rental storage rt, address renter) private {
        Status status = rt.status;
        if (status == Status.Active) {
            _end(id, rt, _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour), renter);
        } else if (status != Status.Ended) {
            revert WrongStatus(status);
        }
        _settle(id, rt, _billed(rt.startedAt, rt.endedAt, rt.pricePerHour));
    }

    function _dispute(bytes32 id, Rental storage rt, address by, bytes32 evidenceHash) private {
        Status status = rt.status;
        uint256 endedAt;
        if (status == Status.Active) {
            uint256 paidUntil = _paidUntil(rt.startedAt, rt.deposit, rt.pricePerHour);
            endedAt = block.timestamp < paidUntil ? block.timestamp : paidUntil;
            rt.endedAt = uint40(endedAt);
            emit RentalEnded(id, by, endedAt);
        } else if (status == Status.Ended) {
            endedAt = rt.endedAt;
        } else {
            revert WrongStatus(status);
        }
        uint256 windowEnd = endedAt + CHALLENGE_WINDOW;
        if (block.timestamp >= windowEnd) revert TooLate(windowEnd);
        rt.status = Status.Disputed;
        rt.disputedAt = uint40(block.timestamp);
        emit DisputeOpened(id, by, evidenceHash);
    }

    function _cancel(bytes32 id, Rental storage rt) private {
        uint256 deposit = rt.deposit;
        rt.status = Status.Closed;
        totalLocked -= uint120(deposit);
        emit RentalCancelled(id, msg.sender);
        emit RentalSettled(id, 0, 0, deposit);
        _push(id, rt.renter, deposit);
    }

    /// @dev Closes the rental (status first), books the fee, then pushes both payments.
    function _settle(bytes32 id, Rental storage rt, uint256 providerGross) private {
        uint256 deposit = rt.deposit;
        uint256 fee = (providerGross * rt.feeBps) / BPS;
        uint256 providerNet = providerGross - fee;
        uint256 refund = deposit - providerGross;
        rt.status = Status.Closed;
        totalLocked -= uint120(deposit);
        feesAccrued += uint128(fee);
        emit RentalSettled(id, providerNet, fee, refund);
        _push(id, rt.provider, providerNet);
        _push(id, rt.renter, refund);
    }

    /// @dev Push payment; a failed transfer (blocklist, pause) is parked for {claim}.
    function _push(bytes32 id, address to, uint256 amount) private {
        if (amount == 0) return;
        if (!token.trySafeTransfer(to, amount)) {
            claimable[to] += amount;
            totalClaimable += amount;
            emit PushFailed(id, to, amount);
        }
    }

    function _claim(address account) private returns (uint256 amount) {
        amount = claimable[account];
        if (amount == 0) revert NothingToClaim();
        claimable[account] = 0;
        totalClaimable -= amount;
        emit Claimed(account, amount);
        token.safeTransfer(account, amount);
    }

    /// @dev EIP-3009 pull (validAfter = 0); the token checks signature, nonce and validBefore.
    function _receiveWithAuthorization(
        address from,
        uint256 amount,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private {
        uint256 before = token.balanceOf(address(this));
        IERC3009(address(token)).receiveWithAuthorization(from, address(this), amount, 0, validBefore, nonce, v, r, s);
        _checkReceived(before, amount);
    }

    function _pullFrom(address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        _checkReceived(before, amount);
    }

    /// @dev Credits only what actually arrived: a fee-on-transfer shortfall reverts.
    function _checkReceived(uint256 before, uint256 amount) private view {
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert DepositShortfall(amount, received);
    }

    function _paidUntil(uint256 startedAt, uint256 deposit, uint256 price) private pure returns (uint256) {
        return startedAt + (deposit * HOUR) / price;
    }

    function _billed(uint256 startedAt, uint256 endedAt, uint256 price) private pure returns (uint256) {
        return ((endedAt - startedAt) * price) / HOUR;
    }

    function _setFeeBps(uint16 feeBps_) private {
        if (feeBps_ < MIN_FEE_BPS || feeBps_ > MAX_FEE_BPS) revert InvalidSetting();
        _config.feeBps = feeBps_;
        emit FeeBpsChanged(feeBps_);
    }

    function _setArbiter(address arbiter_) private {
        if (arbiter_ == address(0)) revert InvalidSetting();
        _arbiters.push(arbiter_);
        uint256 index = _arbiters.length - 1;
        _config.arbiterIndex = uint32(index);
        emit ArbiterChanged(index, arbiter_);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert InvalidSetting();
        treasury = treasury_;
        emit TreasuryChanged(treasury_);
    }

    function _setMinimums(uint96 minDeposit_, uint32 minPrepaidSeconds_) private {
        if (minDeposit_ == 0 || minPrepaidSeconds_ == 0 || minPrepaidSeconds_ > MAX_PREPAID_SECONDS) {
            revert InvalidSetting();
        }
        _config.minDeposit = minDeposit_;
        _config.minPrepaidSeconds = minPrepaidSeconds_;
        emit MinimumsChanged(minDeposit_, minPrepaidSeconds_);
    }
}
