// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev A contract account (funder, beneficiary or approver) that refuses ETH while `rejecting`.
/// It acts through `exec`, so tests can make it create agreements, withdraw, attest, etc.
contract RevertingReceiver {
    bool public rejecting = true;

    error Rejected();

    function setRejecting(bool rejecting_) external {
        rejecting = rejecting_;
    }

    function exec(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (rejecting) revert Rejected();
    }
}
