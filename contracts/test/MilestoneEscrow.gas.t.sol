// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EscrowTestBase} from "./utils/EscrowTestBase.sol";
import {console} from "./utils/Test.sol";
import {MilestoneEscrow} from "../src/MilestoneEscrow.sol";

/// @dev Gas figures of the hot paths, measured from cold storage (as in a fresh transaction).
///
/// Each figure is the execution gas of the call (gasleft() before minus after, with the escrow
/// and token accounts and their storage cooled first). It excludes the 21,000 intrinsic gas and
/// the calldata cost of a transaction, and refunds for cleared storage are not subtracted.
/// `forge test --match-contract Gas -vv` prints them; the goals are asserted:
///   attest <= 70,000   withdraw <= 45,000   refund <= 45,000
contract MilestoneEscrowGasTest is EscrowTestBase {
    uint256 internal constant ATTEST_GOAL = 70_000;
    uint256 internal constant WITHDRAW_GOAL = 45_000;
    uint256 internal constant REFUND_GOAL = 45_000;

    function _measure(address caller, uint256 value, bytes memory data) internal returns (uint256 used) {
        vm.cool(address(escrow));
        vm.cool(address(token));
        vm.prank(caller);
        uint256 before = gasleft();
        (bool ok, bytes memory ret) = address(escrow).call{value: value}(data);
        used = before - gasleft();
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    function _report(string memory name, uint256 used, uint256 goal) internal view {
        console.log(name, used);
        if (goal != 0) vm.assertLe(used, goal, name);
    }

    function _createEthSingle() internal returns (uint256 id) {
        vm.prank(funder);
        id = escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), _amounts3(), _deadlines3(), _one(approver1), 1, bytes32("ref")
        );
    }

    // ------------------------------------------------------------- createAgreement

    function test_gas_createAgreement_eth_3milestones_1approver() public {
        bytes memory data = abi.encodeCall(
            MilestoneEscrow.createAgreement,
            (beneficiary, address(0), _amounts3(), _deadlines3(), _one(approver1), 1, bytes32("ref"))
        );
        _report("createAgreement ETH (3 milestones, 1 approver)", _measure(funder, 6 ether, data), 0);
    }

    function test_gas_createAgreement_erc20_3milestones_2of3() public {
        bytes memory data = abi.encodeCall(
            MilestoneEscrow.createAgreement,
            (beneficiary, address(token), _amounts3(), _deadlines3(), _three(), 2, bytes32("ref"))
        );
        _report("createAgreement ERC-20 (3 milestones, 2-of-3)", _measure(funder, 0, data), 0);
    }

    // ------------------------------------------------------------- attest

    /// Worst case: a single approver (e.g. a Safe) binds the hash and approves in one call.
    function test_gas_attest_singleApprover_approves() public {
        uint256 id = _createEthSingle();
        bytes memory data = abi.encodeCall(MilestoneEscrow.attest, (id, 0, HASH_A));
        _report("attest (1-of-1: approves)", _measure(approver1, 0, data), ATTEST_GOAL);
    }

    function test_gas_attest_firstOf2() public {
        uint256 id = _createEth();
        bytes memory data = abi.encodeCall(MilestoneEscrow.attest, (id, 0, HASH_A));
        _report("attest (first of 2-of-3: counts its hash)", _measure(approver1, 0, data), ATTEST_GOAL);
    }

    function test_gas_attest_secondOf2_approves() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        bytes memory data = abi.encodeCall(MilestoneEscrow.attest, (id, 0, HASH_A));
        _report("attest (second of 2-of-3: approves)", _measure(approver2, 0, data), ATTEST_GOAL);
    }

    /// v2 worst cases: a rogue approver attested another hash first. An honest attestation that
    /// does not approve counts its hash in a new slot; the one that approves also keeps the
    /// rogue hash's count readable.
    function test_gas_attest_afterRogue_firstHonest() public {
        uint256 id = _createEth();
        vm.prank(approver3);
        escrow.attest(id, 0, HASH_B);
        bytes memory data = abi.encodeCall(MilestoneEscrow.attest, (id, 0, HASH_A));
        _report("attest (2-of-3 after a rogue hash: first honest)", _measure(approver1, 0, data), ATTEST_GOAL);
    }

    function test_gas_attest_afterRogue_secondHonest_approves() public {
        uint256 id = _createEth();
        vm.prank(approver3);
        escrow.attest(id, 0, HASH_B);
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        bytes memory data = abi.encodeCall(MilestoneEscrow.attest, (id, 0, HASH_A));
        _report("attest (2-of-3 after a rogue hash: second honest approves)", _measure(approver2, 0, data), ATTEST_GOAL);
    }

    // ------------------------------------------------------------- deadline extension

    function test_gas_deadlineExtension() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        bytes memory propose = abi.encodeCall(MilestoneEscrow.proposeDeadlineExtension, (id, 0, deadline + DAY));
        _report("proposeDeadlineExtension", _measure(funder, 0, propose), 0);
        bytes memory confirm = abi.encodeCall(MilestoneEscrow.confirmDeadlineExtension, (id, 0, deadline + DAY));
        _report("confirmDeadlineExtension", _measure(beneficiary, 0, confirm), 0);
    }

    // ------------------------------------------------------------- withdraw

    function test_gas_withdraw_eth() public {
        vm.deal(beneficiary, 0.1 ether); // a transaction sender is never an empty account
        uint256 id = _createEthSingle();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        bytes memory data = abi.encodeCall(MilestoneEscrow.withdraw, (id));
        _report("withdraw ETH", _measure(beneficiary, 0, data), WITHDRAW_GOAL);
    }

    /// The token's own transfer cost dominates; a first-time holder pays 20k for its new balance slot.
    function test_gas_withdraw_erc20_existingHolder() public {
        token.mint(beneficiary, 1);
        uint256 id = _createToken();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        bytes memory data = abi.encodeCall(MilestoneEscrow.withdraw, (id));
        _report("withdraw ERC-20 (holder already has a balance)", _measure(beneficiary, 0, data), WITHDRAW_GOAL);
    }

    function test_gas_withdraw_erc20_firstTimeHolder() public {
        uint256 id = _createToken();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        bytes memory data = abi.encodeCall(MilestoneEscrow.withdraw, (id));
        _report("withdraw ERC-20 (first-time holder)", _measure(beneficiary, 0, data), 0);
    }

    // ------------------------------------------------------------- refund

    function test_gas_refund() public {
        uint256 id = _createEthSingle();
        vm.warp(block.timestamp + 11 days);
        bytes memory data = abi.encodeCall(MilestoneEscrow.refund, (id, 0));
        _report("refund", _measure(stranger, 0, data), REFUND_GOAL);
    }

    function test_gas_claimRefund_eth() public {
        uint256 id = _createEthSingle();
        vm.warp(block.timestamp + 11 days);
        escrow.refund(id, 0);
        bytes memory data = abi.encodeCall(MilestoneEscrow.claimRefund, (id));
        _report("claimRefund ETH", _measure(funder, 0, data), 0);
    }

    // ------------------------------------------------------------- cancel

    function test_gas_cancel_3milestones() public {
        uint256 id = _createEthSingle();
        vm.prank(funder);
        escrow.proposeCancel(id);
        bytes memory data = abi.encodeCall(MilestoneEscrow.confirmCancel, (id));
        _report("confirmCancel (3 pending milestones)", _measure(beneficiary, 0, data), 0);
    }
}
