// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "../utils/Test.sol";
import {EscrowHandler} from "./EscrowHandler.sol";
import {MilestoneEscrow} from "../../src/MilestoneEscrow.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Stateful fuzzing through {EscrowHandler}. After every call sequence step forge checks:
/// - solvency: for every token, the escrow holds exactly sum(pending) + sum(withdrawable) + sum(refundable);
/// - conservation: deposited == held + paid to beneficiaries + paid to funders (never more out than in);
/// - per agreement: approved == withdrawable + withdrawn, refunded/cancelled == refundable + claimed;
/// - payouts reach only the beneficiary (withdraw) or only the funder (claimRefund);
/// - a milestone settles at most once (its first non-pending status never changes);
/// - no reentrant call (malicious token, reentrant receiver) ever succeeds;
/// - liveness: an honest threshold can always approve a funded, unexpired milestone, whatever a
///   rogue approver attested (the handler's `proveLiveness` tries it on a throw-away snapshot);
///   an agreed deadline extension always takes effect.
///
/// The handler discards every call that does not succeed, so forge's call summary (printed after
/// the campaign) shows the successes of each action as calls - discards.
contract MilestoneEscrowInvariantTest is Test {
    MilestoneEscrow internal escrow;
    EscrowHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address owner = address(0x0A11CE);
        escrow = new MilestoneEscrow(owner);
        handler = new EscrowHandler(escrow, owner);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = EscrowHandler.createAgreement.selector;
        selectors[1] = EscrowHandler.attest.selector;
        selectors[2] = EscrowHandler.withdraw.selector;
        selectors[3] = EscrowHandler.refund.selector;
        selectors[4] = EscrowHandler.claimRefund.selector;
        selectors[5] = EscrowHandler.proposeCancel.selector;
        selectors[6] = EscrowHandler.confirmCancel.selector;
        selectors[7] = EscrowHandler.revokeCancel.selector;
        selectors[8] = EscrowHandler.warp.selector;
        selectors[9] = EscrowHandler.toggleRejecting.selector;
        selectors[10] = EscrowHandler.setPaused.selector;
        selectors[11] = EscrowHandler.proveLiveness.selector;
        selectors[12] = EscrowHandler.extendDeadline.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _held(address tok) internal view returns (uint256) {
        return tok == address(0) ? address(escrow).balance : IERC20(tok).balanceOf(address(escrow));
    }

    /// Sums the escrow's obligations in `tok`, and checks the per-agreement books on the way.
    function _obligations(address tok) internal view returns (uint256 owed) {
        uint256 count = escrow.agreementCount();
        for (uint256 id = 1; id <= count; ++id) {
            (,, address t,,, uint8 mc,, uint256 withdrawable, uint256 refundable) = escrow.getAgreement(id);
            if (t != tok) continue;
            uint256 pending;
            uint256 approved;
            uint256 returned;
            for (uint256 i; i < mc; ++i) {
                (uint128 amount,, MilestoneEscrow.MilestoneStatus st,,) = escrow.getMilestone(id, i);
                if (st == MilestoneEscrow.MilestoneStatus.Pending) pending += amount;
                else if (st == MilestoneEscrow.MilestoneStatus.Approved) approved += amount;
                else returned += amount; // Refunded or Cancelled
            }
            vm.assertEq(pending + approved + returned, handler.ghostTotal(id), "milestones cover the deposit");
            vm.assertEq(approved, withdrawable + handler.ghostWithdrawn(id), "approved = withdrawable + withdrawn");
            vm.assertEq(returned, refundable + handler.ghostClaimed(id), "returned = refundable + claimed");
            owed += pending + withdrawable + refundable;
        }
    }

    /// One campaign checks every property (a campaign per property would multiply the run time).
    function invariant_escrowProperties() public view {
        _checkSolvencyAndConservation();
        vm.assertFalse(handler.ghostWrongPayee(), "a payout reached someone other than the entitled party");
        vm.assertFalse(handler.ghostOverpaid(), "escrow balance moved by more than the accounted amount");
        vm.assertFalse(handler.ghostStatusChangedTwice(), "a settled milestone changed status");
        vm.assertFalse(handler.ghostLivenessBroken(), "an honest threshold could not approve a live milestone");
        vm.assertFalse(handler.ghostExtensionLost(), "an agreed deadline extension did not take effect");
        vm.assertEq(handler.malToken().successes(), 0, "malicious token reentered");
        vm.assertEq(handler.reenterer().successes(), 0, "receiver reentered");
    }

    function _checkSolvencyAndConservation() internal view {
        uint256 n = handler.tokenCount();
        for (uint256 i; i < n; ++i) {
            address tok = handler.tokens(i);
            uint256 held = _held(tok);
            vm.assertEq(held, _obligations(tok), "held == pending + withdrawable + refundable");
            uint256 paid = handler.ghostPaidToBeneficiaries(tok) + handler.ghostPaidToFunders(tok);
            vm.assertLe(paid, handler.ghostDeposited(tok), "never more out than in");
            vm.assertEq(handler.ghostDeposited(tok), held + paid, "deposited == held + paid out");
        }
    }

    /// Prints how often each action succeeded (run with -vv), to show the campaign is not vacuous.
    function afterInvariant() public view {
        _logCall("create");
        _logCall("attest");
        _logCall("withdraw");
        _logCall("refund");
        _logCall("claimRefund");
        _logCall("proposeCancel");
        _logCall("confirmCancel");
        _logCall("revokeCancel");
        _logCall("pause");
        _logCall("unpause");
        _logCall("proveLiveness");
        _logCall("extendDeadline");
        _console("reentry attempts (all refused)", handler.malToken().attempts() + handler.reenterer().attempts());
    }

    function _logCall(string memory name) internal view {
        uint256 c = handler.calls(name);
        _console(name, c);
    }

    function _console(string memory name, uint256 v) internal view {
        (bool ok,) = address(0x000000000000000000636F6e736F6c652e6c6f67)
            .staticcall(abi.encodeWithSignature("log(string,uint256)", name, v));
        ok;
    }
}
