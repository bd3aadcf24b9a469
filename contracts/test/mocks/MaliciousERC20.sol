// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev ERC-20 that calls back into a target (the escrow) from inside every transfer once armed.
/// With `bubble` the failure of the reentrant call is propagated (the outer call reverts);
/// otherwise it is swallowed and recorded, so the outer call completes and tests can inspect it.
contract MaliciousERC20 is ERC20 {
    address public target;
    bytes public payload;
    bool public bubble;
    bool private _inAttack;

    uint256 public attempts;
    uint256 public successes;
    bytes public lastRevertData;

    constructor() ERC20("Malicious Token", "MAL") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata payload_, bool bubble_) external {
        target = target_;
        payload = payload_;
        bubble = bubble_;
    }

    function disarm() external {
        target = address(0);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (target == address(0) || _inAttack || from == address(0)) return;
        _inAttack = true;
        ++attempts;
        (bool ok, bytes memory ret) = target.call(payload);
        _inAttack = false;
        if (ok) {
            ++successes;
        } else {
            lastRevertData = ret;
            if (bubble) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
    }
}
