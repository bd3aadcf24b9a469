// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockERC20
/// @notice Plain, freely mintable ERC-20 for local networks and integration tests. Never deploy it
/// anywhere real: anyone can mint.
contract MockERC20 is ERC20 {
    uint8 private immutable _decimals;

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Number of decimals (e.g. 6 for a USDC-like token, 18 otherwise).
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    /// @notice Number of decimals of the token.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` tokens to `to`. Unrestricted: test token only.
    /// @param to Receiver of the new tokens.
    /// @param amount Amount to mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Burn `amount` tokens from `from`. Unrestricted: test token only.
    /// @param from Holder whose tokens are burned.
    /// @param amount Amount to burn.
    function burn(address from, uint256 amount) external {
        _burn(from, amount);
    }
}
