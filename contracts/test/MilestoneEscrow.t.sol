// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EscrowTestBase} from "./utils/EscrowTestBase.sol";
import {MilestoneEscrow} from "../src/MilestoneEscrow.sol";
import {MockERC20} from "../src/mocks/MockERC20.sol";
import {FeeOnTransferERC20} from "./mocks/FeeOnTransferERC20.sol";
import {BlocklistERC20} from "./mocks/BlocklistERC20.sol";
import {MaliciousERC20} from "./mocks/MaliciousERC20.sol";
import {RevertingReceiver} from "./mocks/RevertingReceiver.sol";
import {ReentrantReceiver} from "./mocks/ReentrantReceiver.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract MilestoneEscrowTest is EscrowTestBase {
    // Re-declared for vm.expectEmit.
    event AgreementCreated(
        uint256 indexed agreementId,
        address indexed funder,
        address indexed beneficiary,
        address token,
        uint256 totalAmount,
        uint256 threshold,
        address[] approvers,
        bytes32 externalRef
    );
    event MilestoneCreated(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, uint256 amount, uint256 deadline
    );
    event Attested(
        uint256 indexed agreementId,
        uint256 indexed milestoneIndex,
        address indexed approver,
        bytes32 evidenceHash,
        uint256 approvals
    );
    event MilestoneApproved(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, bytes32 indexed evidenceHash, uint256 amount
    );
    event Withdrawn(uint256 indexed agreementId, address indexed beneficiary, address indexed token, uint256 amount);
    event MilestoneRefunded(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, address indexed caller, uint256 amount
    );
    event RefundClaimed(uint256 indexed agreementId, address indexed funder, address indexed token, uint256 amount);
    event CancelProposed(uint256 indexed agreementId, address indexed proposer);
    event CancelProposalRevoked(uint256 indexed agreementId, address indexed proposer);
    event MilestoneCancelled(uint256 indexed agreementId, uint256 indexed milestoneIndex, uint256 amount);
    event AgreementCancelled(
        uint256 indexed agreementId, address indexed confirmer, uint256 refundedAmount, uint256 milestonesCancelled
    );

    // =====================================================================
    // createAgreement
    // =====================================================================

    function test_create_eth_storesEverythingAndEmits() public {
        uint64[] memory d = _deadlines3();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit AgreementCreated(1, funder, beneficiary, address(0), 6 ether, 2, _three(), bytes32("ref"));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneCreated(1, 0, 1 ether, d[0]);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneCreated(1, 1, 2 ether, d[1]);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneCreated(1, 2, 3 ether, d[2]);
        uint256 id = _createEth();

        assertEq(id, 1, "first id is 1");
        assertEq(escrow.agreementCount(), 1, "count");
        assertEq(address(escrow).balance, 6 ether, "escrow holds the deposit");
        _checkStoredAgreement(id);
        _checkStoredMilestone(id, d[1]);
        _checkStoredApprovers(id);
    }

    function _checkStoredAgreement(uint256 id) internal view {
        (
            address f,
            address b,
            address t,
            uint8 threshold,
            uint8 approverCount,
            uint8 milestoneCount,
            MilestoneEscrow.CancelState cs,
            uint256 w,
            uint256 r
        ) = escrow.getAgreement(id);
        assertEq(f, funder, "funder");
        assertEq(b, beneficiary, "beneficiary");
        assertEq(t, address(0), "token");
        assertEq(threshold, 2, "threshold");
        assertEq(approverCount, 3, "approverCount");
        assertEq(milestoneCount, 3, "milestoneCount");
        assertEq(uint256(cs), uint256(MilestoneEscrow.CancelState.None), "cancel state");
        assertEq(w, 0, "withdrawable");
        assertEq(r, 0, "refundable");
    }

    function _checkStoredMilestone(uint256 id, uint64 expectedDeadline) internal view {
        (uint128 amount, uint64 deadline, MilestoneEscrow.MilestoneStatus st, uint8 approvals, bytes32 h) =
            escrow.getMilestone(id, 1);
        assertEq(amount, 2 ether, "amount");
        assertEq(deadline, expectedDeadline, "deadline");
        assertEq(uint256(st), uint256(MilestoneEscrow.MilestoneStatus.Pending), "status");
        assertEq(approvals, 0, "approvals");
        assertEq(h, bytes32(0), "hash");
    }

    function _checkStoredApprovers(uint256 id) internal view {
        address[] memory apps = escrow.getApprovers(id);
        assertEq(apps.length, 3, "approvers length");
        assertEq(apps[2], approver3, "approver order");
        assertTrue(escrow.isApprover(id, approver2), "isApprover");
        assertFalse(escrow.isApprover(id, stranger), "stranger is no approver");
    }

    function test_create_token_pullsExactDeposit() public {
        uint256 before = token.balanceOf(funder);
        uint256 id = _createToken();
        assertEq(token.balanceOf(address(escrow)), 6 ether, "escrow token balance");
        assertEq(before - token.balanceOf(funder), 6 ether, "funder paid");
        (,, address t,,,,,,) = escrow.getAgreement(id);
        assertEq(t, address(token), "token stored");
    }

    function test_create_idsIncrement() public {
        assertEq(_createEth(), 1, "id 1");
        assertEq(_createToken(), 2, "id 2");
        assertEq(_createEth(), 3, "id 3");
        assertEq(escrow.agreementCount(), 3, "count");
    }

    function test_create_funderMayBeApprover() public {
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), _amounts3(), _deadlines3(), _one(funder), 1, 0
        );
        assertTrue(escrow.isApprover(id, funder), "funder approver");
    }

    function test_create_maxSizes() public {
        uint256 n = escrow.MAX_MILESTONES();
        uint128[] memory a = new uint128[](n);
        uint64[] memory d = new uint64[](n);
        for (uint256 i; i < n; ++i) {
            a[i] = 1;
            d[i] = uint64(block.timestamp + 1 + i);
        }
        address[] memory apps = new address[](escrow.MAX_APPROVERS());
        for (uint256 i; i < apps.length; ++i) {
            apps[i] = address(uint160(0x1000 + i));
        }
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: n}(beneficiary, address(0), a, d, apps, uint8(apps.length), 0);
        (,,,, uint8 ac, uint8 mc,,,) = escrow.getAgreement(id);
        assertEq(ac, 32, "32 approvers");
        assertEq(mc, 64, "64 milestones");

        // The 32nd approver uses the top bit of the bitmap.
        vm.prank(apps[31]);
        escrow.attest(id, 63, HASH_A);
        assertTrue(escrow.hasAttested(id, 63, apps[31]), "bit 31 set");
        assertFalse(escrow.hasAttested(id, 63, apps[30]), "bit 30 clear");
    }

    function test_create_revert_invalidBeneficiary() public {
        uint128[] memory a = _amounts3();
        uint64[] memory d = _deadlines3();
        address[] memory apps = _three();
        vm.startPrank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidBeneficiary.selector, address(0)));
        escrow.createAgreement{value: 6 ether}(address(0), address(0), a, d, apps, 2, 0);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidBeneficiary.selector, funder));
        escrow.createAgreement{value: 6 ether}(funder, address(0), a, d, apps, 2, 0);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidBeneficiary.selector, address(escrow)));
        escrow.createAgreement{value: 6 ether}(address(escrow), address(0), a, d, apps, 2, 0);
        vm.stopPrank();
    }

    function test_create_revert_milestoneCount() public {
        vm.startPrank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidMilestoneCount.selector, 0));
        escrow.createAgreement(beneficiary, address(0), new uint128[](0), new uint64[](0), _three(), 2, 0);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidMilestoneCount.selector, 65));
        escrow.createAgreement(beneficiary, address(0), new uint128[](65), new uint64[](65), _three(), 2, 0);
        vm.stopPrank();
    }

    function test_create_revert_lengthMismatch() public {
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.LengthMismatch.selector, 3, 2));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), new uint64[](2), _three(), 2, 0);
    }

    function test_create_revert_approverCount() public {
        vm.startPrank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidApproverCount.selector, 0));
        escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), _amounts3(), _deadlines3(), new address[](0), 1, 0
        );
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidApproverCount.selector, 33));
        escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), _amounts3(), _deadlines3(), new address[](33), 1, 0
        );
        vm.stopPrank();
    }

    function test_create_revert_threshold() public {
        vm.startPrank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidThreshold.selector, 0, 3));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), _three(), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidThreshold.selector, 4, 3));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), _three(), 4, 0);
        vm.stopPrank();
    }

    function test_create_revert_nativeAmount() public {
        vm.startPrank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.IncorrectNativeAmount.selector, 6 ether, 5 ether));
        escrow.createAgreement{value: 5 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), _three(), 2, 0);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.IncorrectNativeAmount.selector, 6 ether, 7 ether));
        escrow.createAgreement{value: 7 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), _three(), 2, 0);
        // ERC-20 agreements take no ETH.
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.IncorrectNativeAmount.selector, 0, 1));
        escrow.createAgreement{value: 1}(beneficiary, address(token), _amounts3(), _deadlines3(), _three(), 2, 0);
        vm.stopPrank();
    }

    function test_create_revert_zeroAmount() public {
        uint128[] memory a = _amounts3();
        a[1] = 0;
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.ZeroAmount.selector, 1));
        escrow.createAgreement{value: 4 ether}(beneficiary, address(0), a, _deadlines3(), _three(), 2, 0);
    }

    function test_create_revert_deadlineNotInFuture() public {
        uint64[] memory d = _deadlines3();
        d[2] = uint64(block.timestamp);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlineNotInFuture.selector, 2, block.timestamp));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), d, _three(), 2, 0);
    }

    function test_create_revert_totalTooLarge() public {
        uint128[] memory a = new uint128[](2);
        a[0] = type(uint96).max;
        a[1] = 1;
        uint64[] memory d = new uint64[](2);
        d[0] = uint64(block.timestamp + 1);
        d[1] = uint64(block.timestamp + 1);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.TotalTooLarge.selector, uint256(type(uint96).max) + 1));
        escrow.createAgreement(beneficiary, address(token), a, d, _three(), 2, 0);
    }

    function test_create_revert_invalidApprover() public {
        address[] memory apps = _three();
        apps[1] = address(0);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidApprover.selector, address(0)));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), apps, 2, 0);

        apps[1] = beneficiary; // the beneficiary may not approve its own milestones
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.InvalidApprover.selector, beneficiary));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), apps, 2, 0);
    }

    function test_create_revert_duplicateApprover() public {
        address[] memory apps = _three();
        apps[2] = approver1;
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DuplicateApprover.selector, approver1));
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), apps, 2, 0);
    }

    function test_create_revert_feeOnTransferShortfall() public {
        FeeOnTransferERC20 fot = new FeeOnTransferERC20(100); // 1 %
        fot.mint(funder, 100 ether);
        vm.startPrank(funder);
        fot.approve(address(escrow), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DepositMismatch.selector, 6 ether, 5.94 ether));
        escrow.createAgreement(beneficiary, address(fot), _amounts3(), _deadlines3(), _three(), 2, 0);
        vm.stopPrank();
        assertEq(escrow.agreementCount(), 0, "nothing created");

        // The same token with a zero fee is accepted: the check is on the observed balance delta.
        fot.setFeeBps(0);
        vm.prank(funder);
        escrow.createAgreement(beneficiary, address(fot), _amounts3(), _deadlines3(), _three(), 2, 0);
        assertEq(fot.balanceOf(address(escrow)), 6 ether, "credited");
    }

    function test_create_revert_insufficientAllowance() public {
        vm.prank(funder);
        token.approve(address(escrow), 1 ether);
        vm.prank(funder);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 1 ether, 6 ether)
        );
        escrow.createAgreement(beneficiary, address(token), _amounts3(), _deadlines3(), _three(), 2, 0);
    }

    function test_create_revert_tokenWithoutCode() public {
        vm.prank(funder);
        vm.expectRevert();
        escrow.createAgreement(beneficiary, stranger, _amounts3(), _deadlines3(), _three(), 2, 0);
    }

    function test_create_revert_whenPaused() public {
        vm.prank(owner);
        escrow.pause();
        vm.prank(funder);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.createAgreement{value: 6 ether}(beneficiary, address(0), _amounts3(), _deadlines3(), _three(), 2, 0);
    }

    function test_create_revert_reentrantTokenBlocked() public {
        MaliciousERC20 mal = new MaliciousERC20();
        mal.mint(funder, 100 ether);
        vm.prank(funder);
        mal.approve(address(escrow), type(uint256).max);
        // During transferFrom the token tries to create another agreement through the escrow.
        mal.arm(
            address(escrow),
            abi.encodeCall(
                MilestoneEscrow.createAgreement,
                (beneficiary, address(mal), _amounts3(), _deadlines3(), _three(), 2, bytes32(0))
            ),
            true
        );
        vm.prank(funder);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        escrow.createAgreement(beneficiary, address(mal), _amounts3(), _deadlines3(), _three(), 2, 0);
    }

    // =====================================================================
    // attest
    // =====================================================================

    function test_attest_singleApproverApprovesImmediately() public {
        uint256 id = _createToken();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Attested(id, 0, approver1, HASH_A, 1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneApproved(id, 0, HASH_A, 1 ether);
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);

        (,, MilestoneEscrow.MilestoneStatus st, uint8 approvals, bytes32 h) = escrow.getMilestone(id, 0);
        assertEq(uint256(st), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved");
        assertEq(approvals, 1, "approvals");
        assertEq(h, HASH_A, "hash bound");
        assertEq(_withdrawable(id), 1 ether, "withdrawable");
    }

    function test_attest_kOfN() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        escrow.attest(id, 1, HASH_A);
        assertEq(uint256(_status(id, 1)), uint256(MilestoneEscrow.MilestoneStatus.Pending), "1 of 2: pending");
        assertEq(_withdrawable(id), 0, "nothing yet");
        assertTrue(escrow.hasAttested(id, 1, approver1), "approver1 attested");
        assertFalse(escrow.hasAttested(id, 1, approver3), "approver3 not yet");
        assertFalse(escrow.hasAttested(id, 1, stranger), "stranger never");

        vm.expectEmit(true, true, true, true, address(escrow));
        emit Attested(id, 1, approver3, HASH_A, 2);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneApproved(id, 1, HASH_A, 2 ether);
        vm.prank(approver3);
        escrow.attest(id, 1, HASH_A);
        assertEq(uint256(_status(id, 1)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "2 of 2: approved");
        assertEq(_withdrawable(id), 2 ether, "credited");

        // A late third attestation is refused: the milestone is no longer pending.
        vm.prank(approver2);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 1, MilestoneEscrow.MilestoneStatus.Approved
            )
        );
        escrow.attest(id, 1, HASH_A);
    }

    function test_attest_revert_zeroHash() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        vm.expectRevert(MilestoneEscrow.ZeroEvidenceHash.selector);
        escrow.attest(id, 0, bytes32(0));
    }

    function test_attest_revert_notApprover() public {
        uint256 id = _createEth();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotApprover.selector, id, stranger));
        escrow.attest(id, 0, HASH_A);
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotApprover.selector, id, beneficiary));
        escrow.attest(id, 0, HASH_A);
        // Unknown agreement: nobody is an approver of it.
        vm.prank(approver1);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotApprover.selector, 99, approver1));
        escrow.attest(99, 0, HASH_A);
    }

    function test_attest_revert_unknownMilestone() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownMilestone.selector, id, 3));
        escrow.attest(id, 3, HASH_A);
    }

    function test_attest_revert_alreadyAttested() public {
        uint256 id = _createEth();
        vm.startPrank(approver1);
        escrow.attest(id, 0, HASH_A);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.AlreadyAttested.selector, id, 0, approver1));
        escrow.attest(id, 0, HASH_A);
        vm.stopPrank();
    }

    /// v2: a rogue approver attesting a wrong hash first blocks no one; the two honest approvers
    /// approve the right hash, and the disagreement stays visible (event, per-hash votes).
    function test_attest_rogueFirstHash_honestThresholdApproves() public {
        uint256 id = _createEth();
        vm.prank(approver3);
        escrow.attest(id, 0, HASH_B);
        assertEq(escrow.evidenceVotes(id, 0, HASH_B), 1, "rogue vote counted for its own hash");

        vm.expectEmit(address(escrow));
        emit MilestoneEscrow.Attested(id, 0, approver1, HASH_A, 1);
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Pending), "1 vote per hash");

        vm.expectEmit(address(escrow));
        emit MilestoneEscrow.MilestoneApproved(id, 0, HASH_A, 1 ether);
        vm.prank(approver2);
        escrow.attest(id, 0, HASH_A);
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved");
        assertEq(escrow.approvedEvidenceHash(id, 0), HASH_A, "approved with the honest hash");
        assertEq(escrow.evidenceVotes(id, 0, HASH_A), 2, "honest votes");
        assertEq(escrow.evidenceVotes(id, 0, HASH_B), 1, "rogue vote still readable");
        (,,, uint8 approvals, bytes32 h) = escrow.getMilestone(id, 0);
        assertEq(approvals, 3, "three attestations in all");
        assertEq(h, HASH_A, "getMilestone shows the approved hash");
        assertEq(_withdrawable(id), 1 ether, "credited once");
    }

    /// v2: a hash that differs from the first one collects its own votes and can be the one approved
    /// even when it is not the first; a milestone's other hashes never count for it.
    function test_attest_votesPerHash_secondHashWinsAndMilestonesAreIndependent() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        vm.prank(approver2);
        escrow.attest(id, 0, HASH_B);
        assertEq(escrow.approvedEvidenceHash(id, 0), bytes32(0), "nothing approved yet");
        assertEq(escrow.evidenceVotes(id, 0, HASH_A), 1, "A: 1");
        assertEq(escrow.evidenceVotes(id, 0, HASH_B), 1, "B: 1");
        assertEq(escrow.evidenceVotes(id, 0, bytes32(0)), 0, "zero hash has no votes");
        vm.prank(approver3);
        escrow.attest(id, 0, HASH_B);
        assertEq(escrow.approvedEvidenceHash(id, 0), HASH_B, "B approved");
        assertEq(escrow.evidenceVotes(id, 0, HASH_A), 1, "A's vote kept");
        // Another milestone counts its own votes.
        vm.prank(approver2);
        escrow.attest(id, 1, HASH_A);
        assertEq(escrow.evidenceVotes(id, 1, HASH_A), 1, "milestone 1 counts separately");
        assertEq(escrow.approvedEvidenceHash(id, 1), bytes32(0), "milestone 1 pending");
    }

    function test_deadlineExtension_proposeConfirm() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        uint64 later = deadline + 5 * DAY;
        vm.expectEmit(address(escrow));
        emit MilestoneEscrow.DeadlineExtensionProposed(id, 0, funder, later);
        vm.prank(funder);
        escrow.proposeDeadlineExtension(id, 0, later);
        (address proposer, uint64 proposed) = escrow.deadlineProposal(id, 0);
        assertEq(proposer, funder, "proposer");
        assertEq(uint256(proposed), uint256(later), "proposed");

        // The proposer cannot confirm its own proposal; the other party must repeat the same value.
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NoDeadlineProposal.selector, id, 0, later));
        escrow.confirmDeadlineExtension(id, 0, later);
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NoDeadlineProposal.selector, id, 0, later + 1));
        escrow.confirmDeadlineExtension(id, 0, later + 1);

        vm.expectEmit(address(escrow));
        emit MilestoneEscrow.DeadlineExtended(id, 0, beneficiary, deadline, later);
        vm.prank(beneficiary);
        escrow.confirmDeadlineExtension(id, 0, later);
        (, uint64 nowDeadline,,,) = escrow.getMilestone(id, 0);
        assertEq(uint256(nowDeadline), uint256(later), "deadline moved");
        (proposer,) = escrow.deadlineProposal(id, 0);
        assertEq(proposer, address(0), "proposal used up");

        // Past the old deadline the milestone is still attestable, and not refundable.
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlineNotReached.selector, id, 0, later));
        escrow.refund(id, 0);
        _approve2of3(id, 0, HASH_A);
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved late");
    }

    function test_deadlineExtension_worksWhilePaused_andRevertPaths() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        vm.prank(owner);
        escrow.pause();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, stranger));
        escrow.proposeDeadlineExtension(id, 0, deadline + 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, stranger));
        escrow.confirmDeadlineExtension(id, 0, deadline + 1);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlineNotLater.selector, id, 0, deadline, deadline));
        escrow.proposeDeadlineExtension(id, 0, deadline);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownMilestone.selector, id, 7));
        escrow.proposeDeadlineExtension(id, 7, deadline + 1);
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NoDeadlineProposal.selector, id, 0, deadline + 1));
        escrow.confirmDeadlineExtension(id, 0, deadline + 1);

        // While paused: the beneficiary proposes, the funder confirms (the pause does not force a refund).
        vm.prank(beneficiary);
        escrow.proposeDeadlineExtension(id, 0, deadline + 3 * DAY);
        vm.prank(funder);
        escrow.confirmDeadlineExtension(id, 0, deadline + 3 * DAY);
        vm.warp(deadline + 1);
        vm.prank(owner);
        escrow.unpause();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);

        // Past its deadline a milestone cannot be extended any more; settled ones neither.
        (, uint64 d1,,,) = escrow.getMilestone(id, 1);
        vm.warp(d1 + 1);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlinePassed.selector, id, 1, d1));
        escrow.proposeDeadlineExtension(id, 1, d1 + DAY);
        escrow.refund(id, 1);
        vm.prank(funder);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 1, MilestoneEscrow.MilestoneStatus.Refunded
            )
        );
        escrow.proposeDeadlineExtension(id, 1, d1 + DAY);
    }

    function test_attest_atDeadlineOk_afterDeadlineReverts() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        vm.warp(deadline);
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        vm.warp(uint256(deadline) + 1);
        vm.prank(approver2);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlinePassed.selector, id, 0, deadline));
        escrow.attest(id, 0, HASH_A);
    }

    function test_attest_revert_whenPaused() public {
        uint256 id = _createEth();
        vm.prank(owner);
        escrow.pause();
        vm.prank(approver1);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.attest(id, 0, HASH_A);
        vm.prank(owner);
        escrow.unpause();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
    }

    function test_attest_revert_afterRefundOrCancel() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        vm.warp(uint256(deadline) + 1);
        escrow.refund(id, 0);
        vm.prank(approver1);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 0, MilestoneEscrow.MilestoneStatus.Refunded
            )
        );
        escrow.attest(id, 0, HASH_A);

        vm.prank(funder);
        escrow.proposeCancel(id);
        vm.prank(beneficiary);
        escrow.confirmCancel(id);
        vm.prank(approver1);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 1, MilestoneEscrow.MilestoneStatus.Cancelled
            )
        );
        escrow.attest(id, 1, HASH_A);
    }

    // =====================================================================
    // withdraw
    // =====================================================================

    function test_withdraw_eth_paysBeneficiaryAllApproved() public {
        uint256 id = _createEth();
        _approve2of3(id, 0, HASH_A);
        _approve2of3(id, 2, HASH_B);
        uint256 before = beneficiary.balance;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Withdrawn(id, beneficiary, address(0), 4 ether);
        vm.prank(beneficiary);
        uint256 paid = escrow.withdraw(id);
        assertEq(paid, 4 ether, "returned amount");
        assertEq(beneficiary.balance - before, 4 ether, "beneficiary paid");
        assertEq(address(escrow).balance, 2 ether, "pending milestone stays");
        assertEq(_withdrawable(id), 0, "zeroed");

        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NothingToWithdraw.selector, id));
        escrow.withdraw(id);
    }

    function test_withdraw_token() public {
        uint256 id = _createToken();
        vm.prank(approver1);
        escrow.attest(id, 1, HASH_A);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Withdrawn(id, beneficiary, address(token), 2 ether);
        vm.prank(beneficiary);
        escrow.withdraw(id);
        assertEq(token.balanceOf(beneficiary), 2 ether, "paid");
        assertEq(token.balanceOf(address(escrow)), 4 ether, "rest held");
    }

    function test_withdraw_revert_notBeneficiary() public {
        uint256 id = _createToken();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotBeneficiary.selector, id, funder));
        escrow.withdraw(id);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotBeneficiary.selector, id, stranger));
        escrow.withdraw(id);
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotBeneficiary.selector, 42, beneficiary));
        escrow.withdraw(42);
    }

    function test_withdraw_revert_nothingBeforeApproval() public {
        uint256 id = _createEth();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A); // 1 of 2 only
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NothingToWithdraw.selector, id));
        escrow.withdraw(id);
    }

    function test_withdraw_worksWhilePaused() public {
        uint256 id = _createEth();
        _approve2of3(id, 0, HASH_A);
        vm.prank(owner);
        escrow.pause();
        vm.prank(beneficiary);
        escrow.withdraw(id);
        assertEq(beneficiary.balance, 1 ether, "paid while paused");
    }

    function test_withdraw_revertingBeneficiaryBlocksOnlyItself() public {
        RevertingReceiver rr = new RevertingReceiver();
        // Agreement 1: the rejecting contract is the beneficiary.
        vm.prank(funder);
        uint256 bad = escrow.createAgreement{value: 6 ether}(
            address(rr), address(0), _amounts3(), _deadlines3(), _one(approver1), 1, 0
        );
        // Agreement 2: a normal beneficiary.
        vm.prank(funder);
        uint256 good = escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), _amounts3(), _deadlines3(), _one(approver1), 1, 0
        );
        vm.startPrank(approver1);
        escrow.attest(bad, 0, HASH_A);
        escrow.attest(good, 0, HASH_A);
        vm.stopPrank();

        vm.expectRevert(RevertingReceiver.Rejected.selector);
        rr.exec(address(escrow), 0, abi.encodeCall(MilestoneEscrow.withdraw, (bad)));
        assertEq(_withdrawable(bad), 1 ether, "still credited after the failed payout");

        vm.prank(beneficiary);
        escrow.withdraw(good);
        assertEq(beneficiary.balance, 1 ether, "others unaffected");

        rr.setRejecting(false);
        rr.exec(address(escrow), 0, abi.encodeCall(MilestoneEscrow.withdraw, (bad)));
        assertEq(address(rr).balance, 1 ether, "paid once it accepts");
    }

    function test_withdraw_blocklistedBeneficiaryBlocksOnlyItself() public {
        BlocklistERC20 blk = new BlocklistERC20();
        blk.mint(funder, 100 ether);
        vm.startPrank(funder);
        blk.approve(address(escrow), type(uint256).max);
        uint256 a1 =
            escrow.createAgreement(beneficiary, address(blk), _amounts3(), _deadlines3(), _one(approver1), 1, 0);
        uint256 a2 = escrow.createAgreement(stranger, address(blk), _amounts3(), _deadlines3(), _one(approver1), 1, 0);
        vm.stopPrank();
        vm.startPrank(approver1);
        escrow.attest(a1, 0, HASH_A);
        escrow.attest(a2, 0, HASH_A);
        vm.stopPrank();

        blk.setBlocked(beneficiary, true);
        vm.prank(beneficiary);
        vm.expectRevert(abi.encodeWithSelector(BlocklistERC20.Blocked.selector, beneficiary));
        escrow.withdraw(a1);
        vm.prank(stranger);
        escrow.withdraw(a2);
        assertEq(blk.balanceOf(stranger), 1 ether, "other beneficiary paid");
        assertEq(_withdrawable(a1), 1 ether, "blocked one keeps its credit");
    }

    function test_withdraw_reentrantBeneficiaryCannotDoubleWithdraw() public {
        ReentrantReceiver rr = new ReentrantReceiver();
        vm.prank(funder);
        uint256 id = escrow.createAgreement{value: 6 ether}(
            address(rr), address(0), _amounts3(), _deadlines3(), _one(approver1), 1, 0
        );
        vm.startPrank(approver1);
        escrow.attest(id, 0, HASH_A);
        escrow.attest(id, 1, HASH_A);
        vm.stopPrank();
        rr.arm(address(escrow), abi.encodeCall(MilestoneEscrow.withdraw, (id)));

        rr.exec(address(escrow), 0, abi.encodeCall(MilestoneEscrow.withdraw, (id)));
        assertEq(address(rr).balance, 3 ether, "paid exactly once");
        assertEq(rr.attempts(), 1, "reentry attempted");
        assertEq(rr.successes(), 0, "reentry failed");
        assertEq(
            keccak256(rr.lastRevertData()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "blocked by the guard"
        );
        assertEq(address(escrow).balance, 3 ether, "remaining milestone held");
    }

    function test_withdraw_maliciousTokenReentryBlocked() public {
        MaliciousERC20 mal = new MaliciousERC20();
        mal.mint(funder, 100 ether);
        vm.startPrank(funder);
        mal.approve(address(escrow), type(uint256).max);
        uint256 id =
            escrow.createAgreement(beneficiary, address(mal), _amounts3(), _deadlines3(), _one(approver1), 1, 0);
        vm.stopPrank();
        vm.prank(approver1);
        escrow.attest(id, 0, HASH_A);

        // Swallowing variant: the payout completes, the nested call is refused.
        mal.arm(address(escrow), abi.encodeCall(MilestoneEscrow.claimRefund, (id)), false);
        vm.prank(beneficiary);
        escrow.withdraw(id);
        assertEq(mal.balanceOf(beneficiary), 1 ether, "paid once");
        assertEq(mal.successes(), 0, "no nested success");
        assertEq(
            keccak256(mal.lastRevertData()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "guard"
        );

        // Bubbling variant: the whole withdrawal reverts and nothing changes.
        vm.prank(approver1);
        escrow.attest(id, 1, HASH_A);
        mal.arm(address(escrow), abi.encodeCall(MilestoneEscrow.withdraw, (id)), true);
        vm.prank(beneficiary);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        escrow.withdraw(id);
        assertEq(_withdrawable(id), 2 ether, "state rolled back");
    }

    // =====================================================================
    // refund / claimRefund
    // =====================================================================

    function test_refund_afterDeadlineByAnyone() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        vm.warp(uint256(deadline) + 1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneRefunded(id, 0, stranger, 1 ether);
        vm.prank(stranger);
        uint256 credited = escrow.refund(id, 0);
        assertEq(credited, 1 ether, "returned");
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Refunded), "status");
        assertEq(_refundable(id), 1 ether, "credited to funder");
        assertEq(address(escrow).balance, 6 ether, "no transfer yet");

        uint256 before = funder.balance;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit RefundClaimed(id, funder, address(0), 1 ether);
        vm.prank(stranger); // anyone may trigger; the funder receives
        uint256 paid = escrow.claimRefund(id);
        assertEq(paid, 1 ether, "paid");
        assertEq(funder.balance - before, 1 ether, "funder received");
        assertEq(stranger.balance, 0, "caller received nothing");
        assertEq(_refundable(id), 0, "zeroed");

        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NothingToClaim.selector, id));
        escrow.claimRefund(id);
    }

    function test_refund_revert_atDeadline() public {
        uint256 id = _createEth();
        (, uint64 deadline,,,) = escrow.getMilestone(id, 0);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.DeadlineNotReached.selector, id, 0, deadline));
        escrow.refund(id, 0);
    }

    function test_refund_revert_unknownMilestone() public {
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownMilestone.selector, 7, 0));
        escrow.refund(7, 0);
        uint256 id = _createEth();
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownMilestone.selector, id, 3));
        escrow.refund(id, 3);
    }

    function test_refund_revert_twiceOrApproved() public {
        uint256 id = _createEth();
        _approve2of3(id, 1, HASH_A);
        vm.warp(block.timestamp + 365 days);
        escrow.refund(id, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 0, MilestoneEscrow.MilestoneStatus.Refunded
            )
        );
        escrow.refund(id, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 1, MilestoneEscrow.MilestoneStatus.Approved
            )
        );
        escrow.refund(id, 1);
    }

    function test_refund_worksWhilePaused() public {
        uint256 id = _createToken();
        vm.prank(owner);
        escrow.pause();
        vm.warp(block.timestamp + 365 days);
        escrow.refund(id, 0);
        escrow.refund(id, 1);
        uint256 before = token.balanceOf(funder);
        escrow.claimRefund(id);
        assertEq(token.balanceOf(funder) - before, 3 ether, "refunded while paused");
    }

    function test_refund_revertingFunderBlocksOnlyItself() public {
        RevertingReceiver rf = new RevertingReceiver();
        vm.deal(address(rf), 10 ether);
        bytes memory create = abi.encodeCall(
            MilestoneEscrow.createAgreement,
            (beneficiary, address(0), _amounts3(), _deadlines3(), _one(approver1), 1, bytes32(0))
        );
        uint256 bad = abi.decode(rf.exec(address(escrow), 6 ether, create), (uint256));
        uint256 good = _createEth();

        vm.warp(block.timestamp + 365 days);
        // Refund bookkeeping never touches the funder, so it always succeeds.
        escrow.refund(bad, 0);
        escrow.refund(good, 0);
        vm.expectRevert(RevertingReceiver.Rejected.selector);
        escrow.claimRefund(bad);
        assertEq(_refundable(bad), 1 ether, "credit kept");
        escrow.claimRefund(good);
        assertEq(_refundable(good), 0, "other funder paid");

        rf.setRejecting(false);
        escrow.claimRefund(bad);
        assertEq(address(rf).balance, 4 ether + 1 ether, "paid once it accepts");
    }

    function test_claimRefund_reentrantFunderBlocked() public {
        ReentrantReceiver rf = new ReentrantReceiver();
        vm.deal(address(rf), 10 ether);
        bytes memory create = abi.encodeCall(
            MilestoneEscrow.createAgreement,
            (beneficiary, address(0), _amounts3(), _deadlines3(), _one(approver1), 1, bytes32(0))
        );
        uint256 id = abi.decode(rf.exec(address(escrow), 6 ether, create), (uint256));
        vm.warp(block.timestamp + 365 days);
        escrow.refund(id, 0);
        rf.arm(address(escrow), abi.encodeCall(MilestoneEscrow.refund, (id, 1)));
        escrow.claimRefund(id);
        assertEq(rf.successes(), 0, "nested refund blocked");
        assertEq(uint256(_status(id, 1)), uint256(MilestoneEscrow.MilestoneStatus.Pending), "untouched");
        assertEq(address(rf).balance, 4 ether + 1 ether, "paid exactly the credit");
    }

    function test_claimRefund_revert_unknownAgreement() public {
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NothingToClaim.selector, 5));
        escrow.claimRefund(5);
    }

    // =====================================================================
    // cancellation
    // =====================================================================

    function test_cancel_fullFlow() public {
        uint256 id = _createEth();
        _approve2of3(id, 0, HASH_A);
        vm.warp(block.timestamp + 15 days); // milestone 1 deadline not reached, 0 approved
        vm.expectEmit(true, true, true, true, address(escrow));
        emit CancelProposed(id, funder);
        vm.prank(funder);
        escrow.proposeCancel(id);
        assertEq(uint256(_cancelState(id)), uint256(MilestoneEscrow.CancelState.ProposedByFunder), "proposed");

        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneCancelled(id, 1, 2 ether);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit MilestoneCancelled(id, 2, 3 ether);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit AgreementCancelled(id, beneficiary, 5 ether, 2);
        vm.prank(beneficiary);
        uint256 refunded = escrow.confirmCancel(id);
        assertEq(refunded, 5 ether, "refunded");
        assertEq(uint256(_cancelState(id)), uint256(MilestoneEscrow.CancelState.Cancelled), "final");
        assertEq(uint256(_status(id, 0)), uint256(MilestoneEscrow.MilestoneStatus.Approved), "approved kept");
        assertEq(uint256(_status(id, 1)), uint256(MilestoneEscrow.MilestoneStatus.Cancelled), "m1 cancelled");
        assertEq(_refundable(id), 5 ether, "funder credit");
        assertEq(_withdrawable(id), 1 ether, "beneficiary credit kept");

        vm.prank(beneficiary);
        escrow.withdraw(id);
        escrow.claimRefund(id);
        assertEq(address(escrow).balance, 0, "everything paid out");
        assertEq(beneficiary.balance, 1 ether, "beneficiary");

        vm.prank(funder);
        vm.expectRevert(
            abi.encodeWithSelector(MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.Cancelled)
        );
        escrow.proposeCancel(id);
    }

    function test_cancel_beneficiaryProposesFunderConfirms_skipsRefunded() public {
        uint256 id = _createToken();
        vm.warp(block.timestamp + 11 days);
        escrow.refund(id, 0); // refunded before cancel: not counted twice
        vm.prank(beneficiary);
        escrow.proposeCancel(id);
        assertEq(uint256(_cancelState(id)), uint256(MilestoneEscrow.CancelState.ProposedByBeneficiary), "proposed");
        vm.prank(funder);
        uint256 refunded = escrow.confirmCancel(id);
        assertEq(refunded, 5 ether, "only the pending ones");
        assertEq(_refundable(id), 6 ether, "1 refunded + 5 cancelled");
        escrow.claimRefund(id);
        assertEq(token.balanceOf(address(escrow)), 0, "drained to funder");
    }

    function test_cancel_revokeAndRepropose() public {
        uint256 id = _createEth();
        vm.prank(funder);
        escrow.proposeCancel(id);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit CancelProposalRevoked(id, funder);
        vm.prank(funder);
        escrow.revokeCancel(id);
        assertEq(uint256(_cancelState(id)), uint256(MilestoneEscrow.CancelState.None), "cleared");

        vm.prank(beneficiary);
        vm.expectRevert(
            abi.encodeWithSelector(MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.None)
        );
        escrow.confirmCancel(id);

        vm.prank(beneficiary);
        escrow.proposeCancel(id);
        vm.prank(beneficiary);
        escrow.revokeCancel(id);
    }

    function test_cancel_revert_paths() public {
        uint256 id = _createEth();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, stranger));
        escrow.proposeCancel(id);
        vm.prank(approver1);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, approver1));
        escrow.proposeCancel(id);

        // Nothing to revoke.
        vm.prank(funder);
        vm.expectRevert(
            abi.encodeWithSelector(MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.None)
        );
        escrow.revokeCancel(id);

        vm.prank(funder);
        escrow.proposeCancel(id);
        // A second proposal (by either party) is refused.
        vm.prank(beneficiary);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.ProposedByFunder
            )
        );
        escrow.proposeCancel(id);
        // The proposer cannot confirm its own proposal.
        vm.prank(funder);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.ProposedByFunder
            )
        );
        escrow.confirmCancel(id);
        // Only the proposer can revoke.
        vm.prank(beneficiary);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.CancelNotAllowed.selector, id, MilestoneEscrow.CancelState.ProposedByFunder
            )
        );
        escrow.revokeCancel(id);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, stranger));
        escrow.revokeCancel(id);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, id, stranger));
        escrow.confirmCancel(id);

        // Unknown agreement: nobody is a party.
        vm.prank(funder);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.NotParty.selector, 77, funder));
        escrow.proposeCancel(77);
    }

    function test_cancel_worksWhilePaused_thenRefundImpossible() public {
        uint256 id = _createEth();
        vm.prank(owner);
        escrow.pause();
        vm.prank(beneficiary);
        escrow.proposeCancel(id);
        vm.prank(funder);
        escrow.confirmCancel(id);
        vm.warp(block.timestamp + 365 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                MilestoneEscrow.MilestoneNotPending.selector, id, 0, MilestoneEscrow.MilestoneStatus.Cancelled
            )
        );
        escrow.refund(id, 0);
        escrow.claimRefund(id);
        assertEq(address(escrow).balance, 0, "all returned");
    }

    // =====================================================================
    // admin
    // =====================================================================

    function test_pause_onlyOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        escrow.pause();
        vm.prank(owner);
        escrow.pause();
        assertTrue(escrow.paused(), "paused");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        escrow.unpause();
        vm.prank(owner);
        escrow.unpause();
        assertFalse(escrow.paused(), "unpaused");
    }

    function test_renounce_refusedWhilePaused() public {
        vm.startPrank(owner);
        escrow.pause();
        vm.expectRevert(MilestoneEscrow.RenounceWhilePaused.selector);
        escrow.renounceOwnership();
        escrow.unpause();
        escrow.renounceOwnership();
        vm.stopPrank();
        assertEq(escrow.owner(), address(0), "renounced");
    }

    function test_renounce_onlyOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        escrow.renounceOwnership();
    }

    function test_ownership_twoStep() public {
        vm.prank(owner);
        escrow.transferOwnership(stranger);
        assertEq(escrow.owner(), owner, "not yet");
        vm.prank(stranger);
        escrow.acceptOwnership();
        assertEq(escrow.owner(), stranger, "accepted");
    }

    function test_directEthTransferRejected() public {
        vm.prank(funder);
        (bool ok,) = address(escrow).call{value: 1 ether}("");
        assertFalse(ok, "no receive function");
    }

    // =====================================================================
    // views
    // =====================================================================

    function test_views_unknown() public {
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownAgreement.selector, 1));
        escrow.getAgreement(1);
        vm.expectRevert(abi.encodeWithSelector(MilestoneEscrow.UnknownMilestone.selector, 1, 0));
        escrow.getMilestone(1, 0);
        assertEq(escrow.getApprovers(1).length, 0, "no approvers");
        assertFalse(escrow.hasAttested(1, 0, approver1), "no attestation");
    }

    function test_mockERC20_decimalsMintBurn() public {
        MockERC20 t = new MockERC20("Six", "SIX", 6);
        assertEq(t.decimals(), 6, "decimals");
        t.mint(stranger, 5);
        t.burn(stranger, 2);
        assertEq(t.balanceOf(stranger), 3, "balance");
    }
}
