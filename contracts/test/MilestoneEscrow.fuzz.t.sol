// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EscrowTestBase} from "./utils/EscrowTestBase.sol";
import {MilestoneEscrow} from "../src/MilestoneEscrow.sol";
import {FeeOnTransferERC20} from "./mocks/FeeOnTransferERC20.sol";

contract MilestoneEscrowFuzzTest is EscrowTestBase {
    /// Random agreement, random subset approved before the deadlines, the rest refunded after:
    /// the beneficiary gets exactly the approved sum, the funder exactly the rest, nothing stays.
    function testFuzz_settlementSplitsExactly(uint256 nSeed, uint256 amountSeed, uint256 approveMask, bool useToken)
        public
    {
        uint256 n = bound(nSeed, 1, 8);
        uint128[] memory amounts = new uint128[](n);
        uint64[] memory deadlines = new uint64[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            amounts[i] = uint128(bound(uint256(keccak256(abi.encode(amountSeed, i))), 1, 1e22));
            deadlines[i] = uint64(block.timestamp + 1 days + i);
            total += amounts[i];
        }
        address tok = useToken ? address(token) : address(0);
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: useToken ? 0 : total}(
            beneficiary, tok, amounts, deadlines, _one(approver1), 1, 0
        );

        uint256 approved;
        for (uint256 i; i < n; ++i) {
            if ((approveMask >> i) & 1 == 1) {
                vm.prank(approver1);
                escrow.attest(id, i, HASH_A);
                approved += amounts[i];
            }
        }
        vm.warp(block.timestamp + 2 days + n);
        for (uint256 i; i < n; ++i) {
            if ((approveMask >> i) & 1 == 0) escrow.refund(id, i);
        }

        uint256 benBefore = useToken ? token.balanceOf(beneficiary) : beneficiary.balance;
        uint256 funBefore = useToken ? token.balanceOf(funder) : funder.balance;
        if (approved > 0) {
            vm.prank(beneficiary);
            escrow.withdraw(id);
        }
        if (approved < total) escrow.claimRefund(id);
        uint256 benGot = (useToken ? token.balanceOf(beneficiary) : beneficiary.balance) - benBefore;
        uint256 funGot = (useToken ? token.balanceOf(funder) : funder.balance) - funBefore;

        assertEq(benGot, approved, "beneficiary gets the approved sum");
        assertEq(funGot, total - approved, "funder gets the rest");
        assertEq(useToken ? token.balanceOf(address(escrow)) : address(escrow).balance, 0, "nothing left");
    }

    /// Deadlines partition time: attest iff t <= deadline, refund iff t > deadline.
    function testFuzz_deadlinePartitionsAttestAndRefund(uint256 offsetSeed, uint256 warpSeed) public {
        uint256 offset = bound(offsetSeed, 1, 3650 days);
        uint128[] memory a = new uint128[](1);
        a[0] = 5 ether;
        uint64[] memory d = new uint64[](1);
        d[0] = uint64(block.timestamp + offset);
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: 5 ether}(beneficiary, address(0), a, d, _one(approver1), 1, 0);

        uint256 t = bound(warpSeed, block.timestamp, uint256(d[0]) + 30 days);
        vm.warp(t);
        if (t <= d[0]) {
            vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlineNotReached.selector, id, 0, d[0]));
            escrow.refund(id, 0);
            vm.prank(approver1);
            escrow.attest(id, 0, HASH_A);
            assertEq(_withdrawable(id), 5 ether, "approved");
        } else {
            vm.prank(approver1);
            vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlinePassed.selector, id, 0, d[0]));
            escrow.attest(id, 0, HASH_A);
            escrow.refund(id, 0);
            assertEq(_refundable(id), 5 ether, "refunded");
        }
    }

    /// k-of-n: the milestone is approved exactly at the k-th attestation, whatever the order.
    function testFuzz_thresholdReachedExactlyAtK(uint256 nSeed, uint256 kSeed, uint256 orderSeed) public {
        uint256 n = bound(nSeed, 1, 32);
        uint256 k = bound(kSeed, 1, n);
        address[] memory apps = new address[](n);
        for (uint256 i; i < n; ++i) {
            apps[i] = address(uint160(0xA000 + i));
        }
        uint128[] memory a = new uint128[](1);
        a[0] = 1 ether;
        uint64[] memory d = new uint64[](1);
        d[0] = uint64(block.timestamp + 1 days);
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: 1 ether}(beneficiary, address(0), a, d, apps, uint8(k), 0);

        uint256 start = orderSeed % n;
        for (uint256 j; j < k; ++j) {
            address who = apps[(start + j) % n];
            assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Pending), "pending before k");
            vm.prank(who);
            escrow.attest(id, 0, HASH_A);
            assertTrue(escrow.hasAttested(id, 0, who), "recorded");
        }
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved at k");
        assertEq(_withdrawable(id), 1 ether, "credited once");
        if (k < n) {
            vm.prank(apps[(start + k) % n]);
            vm.expectRevert(
                abi.encodeWithSelector(
                    MilestoneEscrow.MilestoneNotPending.selector, id, 0, MilestoneEscrow.MilestoneStatus.Approved
                )
            );
            escrow.attest(id, 0, HASH_A);
        }
    }

    /// Any non-zero transfer fee makes the deposit fall short, and the creation reverts.
    function testFuzz_feeOnTransferAlwaysRejected(uint256 feeSeed, uint256 amountSeed) public {
        uint256 fee = bound(feeSeed, 1, 5_000);
        uint128 amount = uint128(bound(amountSeed, 1, 1e27));
        FeeOnTransferERC20 fot = new FeeOnTransferERC20(fee);
        fot.mint(funder, amount);
        uint128[] memory a = new uint128[](1);
        a[0] = amount;
        uint64[] memory d = new uint64[](1);
        d[0] = uint64(block.timestamp + 1 days);
        vm.startPrank(funder);
        fot.approve(address(escrow), amount);
        vm.expectPartialRevert(MilestoneEscrow.DepositMismatch.selector);
        escrow.createAgreement(beneficiary, address(fot), a, d, _one(approver1), 1, 0);
        vm.stopPrank();
    }

    /// Nobody outside the approver set can attest.
    function testFuzz_onlyApproversAttest(address who) public {
        vm.assume(who != approver1 && who != approver2 && who != approver3);
        uint256 id = _createEth();
        vm.prank(who);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotApprover.selector, id, who));
        escrow.attest(id, 0, HASH_A);
    }

    /// Votes count per hash: a second approver with another hash neither reverts nor approves; with
    /// the same hash it approves. Either way each hash's count is exact.
    function testFuzz_votesCountPerHash(bytes32 h1, bytes32 h2) public {
        vm.assume(h1 != bytes32(0) && h2 != bytes32(0));
        uint256 id = _createEth();
        vm.prank(approver1);
        escrow.attest(id, 0, h1);
        vm.prank(approver2);
        escrow.attest(id, 0, h2);
        if (h1 == h2) {
            assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved");
            assertEq(escrow.evidenceVotes(id, 0, h1), 2, "two votes");
        } else {
            assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Pending), "pending");
            assertEq(escrow.evidenceVotes(id, 0, h1), 1, "h1: 1");
            assertEq(escrow.evidenceVotes(id, 0, h2), 1, "h2: 1");
            vm.prank(approver3);
            escrow.attest(id, 0, h2);
            assertEq(escrow.approvedEvidenceHash(id, 0), h2, "h2 approved");
            assertEq(escrow.evidenceVotes(id, 0, h1), 1, "h1 kept");
        }
    }

    /// Cancellation splits exactly: approved stays with the beneficiary, the rest goes to the funder.
    function testFuzz_cancelSplitsExactly(uint256 approveMask) public {
        uint256 id = _createEth();
        uint128[] memory amounts = _amounts3();
        uint256 approved;
        for (uint256 i; i < 3; ++i) {
            if ((approveMask >> i) & 1 == 1) {
                _approve2of3(id, i, HASH_A);
                approved += amounts[i];
            }
        }
        vm.prank(beneficiary);
        escrow.proposeCancel(id);
        vm.prank(funder);
        uint256 refunded = escrow.confirmCancel(id);
        assertEq(refunded, 6 ether - approved, "refunded = unapproved");
        assertEq(_withdrawable(id), approved, "approved kept");
        assertEq(_refundable(id), 6 ether - approved, "funder credit");
    }
}
