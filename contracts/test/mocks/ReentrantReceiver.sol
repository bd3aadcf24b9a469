// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev A contract account that, when it receives ETH, tries to call back into a target (the
/// escrow) with a preset payload. The reentrant call's failure is swallowed and recorded so the
/// payment itself still succeeds; tests assert that the reentry never succeeded.
contract ReentrantReceiver {
    address public target;
    bytes public payload;
    uint256 public attempts;
    uint256 public successes;
    bytes public lastRevertData;

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function exec(address target_, uint256 value, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target_.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (target == address(0)) return;
        ++attempts;
        (bool ok, bytes memory ret) = target.call(payload);
        if (ok) ++successes;
        else lastRevertData = ret;
    }
}
