// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title FeeOnTransferToken
 * @notice Test-only 6-decimal token that burns 1 % of every transfer, to prove the escrow credits
 * deposits by the balance actually received and rejects the shortfall.
 */
contract FeeOnTransferToken is ERC20 {
    /// @notice Share of each transfer that is burnt (default 1 %); tests may switch it.
    uint256 public feeBps = 100;

    constructor() ERC20("Fee On Transfer", "FOT") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Anyone may mint: this token is for tests only.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Anyone may change the fee: this token is for tests only.
    function setFeeBps(uint256 feeBps_) external {
        feeBps = feeBps_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, to, value - fee);
        super._update(from, address(0), fee);
    }
}
