// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title ReentrantToken
 * @notice Test-only hostile 6-decimal token: when armed, its next balance change calls
 * `target` with `data` (e.g. the escrow's `finalize` or `claim`) in the middle of the transfer,
 * records whether that call succeeded and what it returned, and then completes the transfer.
 */
contract ReentrantToken is ERC20 {
    address public hookTarget;
    bytes public hookData;
    bool public hookCalled;
    bool public hookSucceeded;
    bytes public hookResult;

    constructor() ERC20("Reentrant Token", "REENT") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms a one-shot re-entrant call for the next transfer.
    function arm(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
        hookCalled = false;
        hookSucceeded = false;
        delete hookResult;
    }

    function _update(address from, address to, uint256 value) internal override {
        address target = hookTarget;
        if (target != address(0) && from != address(0)) {
            hookTarget = address(0);
            hookCalled = true;
            (bool ok, bytes memory result) = target.call(hookData);
            hookSucceeded = ok;
            hookResult = result;
        }
        super._update(from, to, value);
    }
}
