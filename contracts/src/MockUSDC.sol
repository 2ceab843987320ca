// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/**
 * @title MockUSDC
 * @notice Development and test stand-in for Circle's USDC: 6 decimals, EIP-2612 `permit`,
 * EIP-3009 `transferWithAuthorization` / `receiveWithAuthorization` / `cancelAuthorization`,
 * an owner-managed blocklist and pause (both make transfers revert, as USDC's do), and owner mint.
 * EIP-712 domain: name "USD Coin", version "2" (as USDC on Polygon); read it from the chain
 * (`eip712Domain()`, `DOMAIN_SEPARATOR()`, `version()`) rather than hard-coding it.
 * @dev Never deploy to a public network as money: the owner can mint at will.
 */
contract MockUSDC is ERC3009, IERC20Permit, Nonces, Pausable, Ownable {
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    mapping(address account => bool) private _blocklisted;

    event Blocklisted(address indexed account);
    event UnBlocklisted(address indexed account);

    error AccountBlocklisted(address account);
    error PermitExpired(uint256 deadline);
    error PermitInvalidSigner();

    constructor(address owner_) ERC20("USD Coin", "USDC") EIP712("USD Coin", "2") Ownable(owner_) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice EIP-712 version string, as FiatToken exposes it.
    function version() external pure returns (string memory) {
        return "2";
    }

    // ------------------------------------------------------------ EIP-2612

    /// @inheritdoc IERC20Permit
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        if (block.timestamp > deadline) revert PermitExpired(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, _useNonce(owner), deadline))
        );
        if (ECDSA.recover(digest, v, r, s) != owner) revert PermitInvalidSigner();
        _approve(owner, spender, value);
    }

    /// @inheritdoc IERC20Permit
    function nonces(address owner) public view override(IERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @inheritdoc IERC20Permit
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------- admin (owner)

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function blocklist(address account) external onlyOwner {
        _blocklisted[account] = true;
        emit Blocklisted(account);
    }

    function unBlocklist(address account) external onlyOwner {
        _blocklisted[account] = false;
        emit UnBlocklisted(account);
    }

    function isBlocklisted(address account) external view returns (bool) {
        return _blocklisted[account];
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }

    // ------------------------------------------------------------- hooks

    /// @dev Every balance change (transfer, transferFrom, EIP-3009, mint) is refused while paused
    /// or when the caller, sender or recipient is blocklisted.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        _requireNotBlocklisted(_msgSender());
        _requireNotBlocklisted(from);
        _requireNotBlocklisted(to);
        super._update(from, to, value);
    }

    /// @dev Approvals (approve, permit, allowance spending) follow the same rules.
    function _approve(address owner, address spender, uint256 value, bool emitEvent)
        internal
        override
        whenNotPaused
    {
        _requireNotBlocklisted(owner);
        _requireNotBlocklisted(spender);
        super._approve(owner, spender, value, emitEvent);
    }

    function _cancelAuthorization(address authorizer, bytes32 nonce) internal override whenNotPaused {
        super._cancelAuthorization(authorizer, nonce);
    }

    function _requireNotBlocklisted(address account) private view {
        if (_blocklisted[account]) revert AccountBlocklisted(account);
    }
}
