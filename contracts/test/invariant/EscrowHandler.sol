// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "../utils/Test.sol";
import {MilestoneEscrow} from "../../src/MilestoneEscrow.sol";
import {MockERC20} from "../../src/mocks/MockERC20.sol";
import {MaliciousERC20} from "../mocks/MaliciousERC20.sol";
import {RevertingReceiver} from "../mocks/RevertingReceiver.sol";
import {ReentrantReceiver} from "../mocks/ReentrantReceiver.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Drives the escrow with bounded random actions and keeps ghost books that the invariants
/// compare against the contract's own state. Actors include a reverting receiver, a reentrant
/// receiver and a token that reenters the escrow from inside every transfer; one approver is rogue
/// and always attests a wrong hash.
///
/// Every action either succeeds or is discarded (`vm.assume(false)`, forge's "Discards" column), so
/// forge's call summary counts exactly the successful calls of each action: calls - discards.
/// The clock is the handler's own (`now_`): every action runs at it, `warp` moves it on.
contract EscrowHandler is Test {
    MilestoneEscrow public immutable escrow;
    MockERC20 public immutable token;
    MaliciousERC20 public immutable malToken;
    RevertingReceiver public immutable rejecter;
    ReentrantReceiver public immutable reenterer;
    address public immutable owner;

    uint256 public constant MAX_AGREEMENTS = 12;
    uint256 public constant MAX_MILESTONES = 4;
    bytes32 public constant HASH_1 = bytes32(uint256(0x1111));
    bytes32 public constant HASH_2 = bytes32(uint256(0x2222));
    /// The rogue approver (the second one, so it sits in most approver sets): it always attests HASH_2.
    address public constant ROGUE = address(uint160(0xA2));

    uint256 public now_;

    address[] public tokens; // address(0) = ETH
    address[] public actors; // funders and beneficiaries (EOAs and contracts)
    address[] public approvers;

    // ---- ghost books ----
    mapping(address token => uint256) public ghostDeposited;
    mapping(address token => uint256) public ghostPaidToBeneficiaries;
    mapping(address token => uint256) public ghostPaidToFunders;
    mapping(uint256 id => uint256) public ghostWithdrawn;
    mapping(uint256 id => uint256) public ghostClaimed;
    mapping(uint256 id => uint256) public ghostTotal;
    /// First non-pending status observed for a milestone (0 = still pending).
    mapping(uint256 id => mapping(uint256 idx => MilestoneEscrow.MilestoneStatus)) public ghostSettled;
    bool public ghostWrongPayee;
    bool public ghostStatusChangedTwice;
    bool public ghostOverpaid;
    /// Set when an honest threshold (HASH_1) could not approve a funded, unexpired milestone.
    bool public ghostLivenessBroken;
    /// Set when an extension both parties agreed to did not move the deadline.
    bool public ghostExtensionLost;

    mapping(string action => uint256) public calls;

    constructor(MilestoneEscrow escrow_, address owner_) {
        escrow = escrow_;
        owner = owner_;
        now_ = block.timestamp;
        token = new MockERC20("Handler USD", "HUSD", 6);
        malToken = new MaliciousERC20();
        rejecter = new RevertingReceiver();
        reenterer = new ReentrantReceiver();

        tokens.push(address(0));
        tokens.push(address(token));
        tokens.push(address(malToken));

        actors.push(address(0xF1));
        actors.push(address(0xF2));
        actors.push(address(0xB1));
        actors.push(address(rejecter));
        actors.push(address(reenterer));
        for (uint256 i; i < 4; ++i) {
            approvers.push(address(uint160(0xA1 + i)));
        }
        // Every transfer of the malicious token tries to call back into the escrow.
        malToken.arm(address(escrow_), abi.encodeCall(MilestoneEscrow.claimRefund, (1)), false);
        // The reentrant receiver tries to withdraw again whenever it is paid ETH.
        reenterer.arm(address(escrow_), abi.encodeCall(MilestoneEscrow.withdraw, (1)));
    }

    // ------------------------------------------------------------------ helpers

    /// Runs the action at the handler's clock.
    modifier atNow() {
        vm.warp(now_);
        _;
    }

    /// A call that did not succeed is discarded: forge's summary then counts successes only.
    function _succeeded(bool ok) internal pure {
        vm.assume(ok);
    }

    function _isContractActor(address a) internal view returns (bool) {
        return a == address(rejecter) || a == address(reenterer);
    }

    /// Calls the escrow as `from`; contract actors call through their `exec`.
    function _callAs(address from, uint256 value, bytes memory data) internal returns (bool ok, bytes memory ret) {
        if (_isContractActor(from)) {
            vm.deal(from, from.balance + value);
            (ok, ret) = from.call(abi.encodeWithSignature("exec(address,uint256,bytes)", address(escrow), value, data));
        } else {
            vm.deal(from, from.balance + value);
            vm.prank(from);
            (ok, ret) = address(escrow).call{value: value}(data);
        }
    }

    function _balance(address tok, address who) internal view returns (uint256) {
        return tok == address(0) ? who.balance : IERC20(tok).balanceOf(who);
    }

    function _pickAgreement(uint256 seed) internal view returns (uint256 id) {
        uint256 count = escrow.agreementCount();
        if (count == 0) return 0;
        return 1 + (seed % count);
    }

    function _tokenOf(uint256 id) internal view returns (address tok) {
        (,, tok,,,,,,) = escrow.getAgreement(id);
    }

    /// Snapshot of every actor's balance in `tok`, to prove a payout reached exactly one account.
    function _snapshot(address tok) internal view returns (uint256[] memory bals) {
        bals = new uint256[](actors.length + approvers.length);
        for (uint256 i; i < actors.length; ++i) {
            bals[i] = _balance(tok, actors[i]);
        }
        for (uint256 i; i < approvers.length; ++i) {
            bals[actors.length + i] = _balance(tok, approvers[i]);
        }
    }

    function _checkOnlyPayee(address tok, uint256[] memory before, address payee, uint256 amount) internal {
        for (uint256 i; i < actors.length; ++i) {
            uint256 nowBal = _balance(tok, actors[i]);
            uint256 expected = actors[i] == payee ? before[i] + amount : before[i];
            if (nowBal != expected) ghostWrongPayee = true;
        }
        for (uint256 i; i < approvers.length; ++i) {
            if (_balance(tok, approvers[i]) != before[actors.length + i]) ghostWrongPayee = true;
        }
    }

    /// Records the first settled status of every milestone and flags any later change.
    function _syncStatuses() internal {
        uint256 count = escrow.agreementCount();
        for (uint256 id = 1; id <= count; ++id) {
            (,,,,, uint8 mc,,,) = escrow.getAgreement(id);
            for (uint256 i; i < mc; ++i) {
                (,, MilestoneEscrow.MilestoneStatus st,,) = escrow.getMilestone(id, i);
                MilestoneEscrow.MilestoneStatus seen = ghostSettled[id][i];
                if (seen == MilestoneEscrow.MilestoneStatus.None) {
                    if (st != MilestoneEscrow.MilestoneStatus.Pending) ghostSettled[id][i] = st;
                } else if (seen != st) {
                    ghostStatusChangedTwice = true;
                }
            }
        }
    }

    // ------------------------------------------------------------------ actions

    function createAgreement(
        uint256 funderSeed,
        uint256 beneficiarySeed,
        uint256 tokenSeed,
        uint256 countSeed,
        uint256 amountSeed,
        uint256 approverSeed,
        uint256 thresholdSeed
    ) external atNow {
        _succeeded(escrow.agreementCount() < MAX_AGREEMENTS);
        address funder = actors[funderSeed % actors.length];
        address beneficiary = actors[beneficiarySeed % actors.length];
        if (funder == beneficiary) beneficiary = actors[(beneficiarySeed % actors.length + 1) % actors.length];
        address tok = tokens[tokenSeed % tokens.length];

        uint256 n = bound(countSeed, 1, MAX_MILESTONES);
        uint128[] memory amounts = new uint128[](n);
        uint64[] memory deadlines = new uint64[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            amounts[i] = uint128(bound(uint256(keccak256(abi.encode(amountSeed, i))), 1, 1e21));
            deadlines[i] =
                uint64(block.timestamp + bound(uint256(keccak256(abi.encode(amountSeed, i, 1))), 1 hours, 10 days));
            total += amounts[i];
        }
        uint256 m = bound(approverSeed, 1, approvers.length);
        address[] memory apps = new address[](m);
        for (uint256 i; i < m; ++i) {
            apps[i] = approvers[i];
        }
        uint8 threshold = uint8(bound(thresholdSeed, 1, m));

        if (tok != address(0)) {
            MockERC20(tok).mint(funder, total); // MaliciousERC20 has the same mint signature
            if (_isContractActor(funder)) {
                RevertingReceiver(payable(funder))
                    .exec(tok, 0, abi.encodeCall(IERC20.approve, (address(escrow), total)));
            } else {
                vm.prank(funder);
                IERC20(tok).approve(address(escrow), total);
            }
        }
        bytes memory data = abi.encodeCall(
            MilestoneEscrow.createAgreement, (beneficiary, tok, amounts, deadlines, apps, threshold, bytes32(0))
        );
        uint256 escrowBefore = _balance(tok, address(escrow));
        (bool ok, bytes memory ret) = _callAs(funder, tok == address(0) ? total : 0, data);
        if (ok) {
            if (_isContractActor(funder)) ret = abi.decode(ret, (bytes));
            uint256 id = abi.decode(ret, (uint256));
            ghostDeposited[tok] += total;
            ghostTotal[id] = total;
            if (_balance(tok, address(escrow)) != escrowBefore + total) ghostOverpaid = true;
            ++calls["create"];
        }
        _succeeded(ok);
        _syncStatuses();
    }

    function attest(uint256 idSeed, uint256 idxSeed, uint256 approverSeed, uint256 hashSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        // Mostly a real approver of this agreement, sometimes any approver (may not belong to it).
        address[] memory apps = escrow.getApprovers(id);
        address who = approverSeed % 8 == 0
            ? approvers[(approverSeed >> 8) % approvers.length]
            : apps[(approverSeed >> 8) % apps.length];
        // The rogue approver always attests a wrong hash; the others mostly the agreed report, now
        // and then a conflicting one. Either kind of vote is accepted: it counts for its own hash.
        bytes32 h = who == ROGUE || hashSeed % 8 == 0 ? HASH_2 : HASH_1;
        (,,,,, uint8 mc,,,) = escrow.getAgreement(id);
        // Mostly an existing milestone, sometimes one past the end (must be refused).
        uint256 idx = idxSeed % 16 == 0 ? mc : idxSeed % mc;
        vm.prank(who);
        try escrow.attest(id, idx, h) {
            ++calls["attest"];
        } catch {
            vm.assume(false);
        }
        _syncStatuses();
    }

    /// Liveness: for a pending, unexpired milestone whose approvers that attested HASH_1 or not at
    /// all still reach the threshold, those honest approvers can always approve it with HASH_1
    /// (after the owner lifts a pause), whatever the others attested. Tried on a state snapshot
    /// that is thrown away afterwards.
    function proveLiveness(uint256 idSeed, uint256 idxSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (,,, uint8 threshold,, uint8 mc,, uint256 withdrawableBefore,) = escrow.getAgreement(id);
        uint256 idx = idxSeed % mc;
        (uint128 amount, uint64 deadline, MilestoneEscrow.MilestoneStatus st,,) = escrow.getMilestone(id, idx);
        _succeeded(st == MilestoneEscrow.MilestoneStatus.Pending && block.timestamp <= deadline);
        address[] memory apps = escrow.getApprovers(id);
        uint256 honest = escrow.evidenceVotes(id, idx, HASH_1);
        for (uint256 i; i < apps.length; ++i) {
            if (!escrow.hasAttested(id, idx, apps[i]) && apps[i] != ROGUE) ++honest;
        }
        _succeeded(honest >= threshold);

        uint256 snap = vm.snapshotState();
        if (escrow.paused()) {
            vm.prank(owner);
            escrow.unpause();
        }
        for (uint256 i; i < apps.length; ++i) {
            (,, st,,) = escrow.getMilestone(id, idx);
            if (st != MilestoneEscrow.MilestoneStatus.Pending) break;
            if (escrow.hasAttested(id, idx, apps[i]) || apps[i] == ROGUE) continue;
            vm.prank(apps[i]);
            // A refusal shows in `live` below (the snapshot's revert also undoes this handler's storage).
            try escrow.attest(id, idx, HASH_1) {} catch {}
        }
        (,, st,,) = escrow.getMilestone(id, idx);
        (,,,,,,, uint256 withdrawableAfter,) = escrow.getAgreement(id);
        bool live = st == MilestoneEscrow.MilestoneStatus.Approved && escrow.approvedEvidenceHash(id, idx) == HASH_1
            && withdrawableAfter == withdrawableBefore + amount;
        vm.revertToState(snap);
        if (!live) ghostLivenessBroken = true;
        ++calls["proveLiveness"];
    }

    function withdraw(uint256 idSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (, address beneficiary, address tok,,,,, uint256 owed,) = escrow.getAgreement(id);
        uint256[] memory before = _snapshot(tok);
        uint256 escrowBefore = _balance(tok, address(escrow));
        (bool ok,) = _callAs(beneficiary, 0, abi.encodeCall(MilestoneEscrow.withdraw, (id)));
        if (ok) {
            ghostWithdrawn[id] += owed;
            ghostPaidToBeneficiaries[tok] += owed;
            if (escrowBefore - _balance(tok, address(escrow)) != owed) ghostOverpaid = true;
            _checkOnlyPayee(tok, before, beneficiary, owed);
            ++calls["withdraw"];
        }
        _succeeded(ok);
        _syncStatuses();
    }

    function refund(uint256 idSeed, uint256 idxSeed, uint256 callerSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        address caller = actors[callerSeed % actors.length];
        (,, address tok,,, uint8 mc,,,) = escrow.getAgreement(id);
        uint256 escrowBefore = _balance(tok, address(escrow));
        // An index of this agreement (refund's own checks decide: pending and past its deadline).
        (bool ok,) = _callAs(caller, 0, abi.encodeCall(MilestoneEscrow.refund, (id, idxSeed % mc)));
        if (ok) {
            // Refund is bookkeeping only: no funds move.
            if (_balance(tok, address(escrow)) != escrowBefore) ghostOverpaid = true;
            ++calls["refund"];
        }
        _succeeded(ok);
        _syncStatuses();
    }

    function claimRefund(uint256 idSeed, uint256 callerSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (address funder,, address tok,,,,,, uint256 owed) = escrow.getAgreement(id);
        address caller = actors[callerSeed % actors.length];
        uint256[] memory before = _snapshot(tok);
        uint256 escrowBefore = _balance(tok, address(escrow));
        (bool ok,) = _callAs(caller, 0, abi.encodeCall(MilestoneEscrow.claimRefund, (id)));
        if (ok) {
            ghostClaimed[id] += owed;
            ghostPaidToFunders[tok] += owed;
            if (escrowBefore - _balance(tok, address(escrow)) != owed) ghostOverpaid = true;
            // The caller may be any actor; only the funder's balance may change.
            _checkOnlyPayee(tok, before, funder, owed);
            ++calls["claimRefund"];
        }
        _succeeded(ok);
        _syncStatuses();
    }

    function proposeCancel(uint256 idSeed, bool asFunder) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (address funder, address beneficiary,,,,,,,) = escrow.getAgreement(id);
        (bool ok,) = _callAs(asFunder ? funder : beneficiary, 0, abi.encodeCall(MilestoneEscrow.proposeCancel, (id)));
        _succeeded(ok);
        ++calls["proposeCancel"];
    }

    function confirmCancel(uint256 idSeed, bool asFunder) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (address funder, address beneficiary,,,,,,,) = escrow.getAgreement(id);
        (bool ok,) = _callAs(asFunder ? funder : beneficiary, 0, abi.encodeCall(MilestoneEscrow.confirmCancel, (id)));
        _succeeded(ok);
        ++calls["confirmCancel"];
        _syncStatuses();
    }

    /// Mostly the proposer of the open proposal (the one party allowed), sometimes the other party.
    function revokeCancel(uint256 idSeed, uint256 whoSeed) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (address funder, address beneficiary,,,,, MilestoneEscrow.CancelState state,,) = escrow.getAgreement(id);
        address proposer = state == MilestoneEscrow.CancelState.ProposedByBeneficiary ? beneficiary : funder;
        address who = whoSeed % 4 == 0 ? (proposer == funder ? beneficiary : funder) : proposer;
        (bool ok,) = _callAs(who, 0, abi.encodeCall(MilestoneEscrow.revokeCancel, (id)));
        _succeeded(ok);
        ++calls["revokeCancel"];
    }

    /// Funder and beneficiary move a pending milestone's deadline later (propose, then confirm).
    function extendDeadline(uint256 idSeed, uint256 idxSeed, uint256 daysSeed, bool funderProposes) external atNow {
        uint256 id = _pickAgreement(idSeed);
        _succeeded(id != 0);
        (address funder, address beneficiary,,,, uint8 mc,,,) = escrow.getAgreement(id);
        uint256 idx = idxSeed % mc;
        (, uint64 deadline,,,) = escrow.getMilestone(id, idx);
        uint64 newDeadline = uint64(deadline + bound(daysSeed, 1, 5) * 1 days);
        (address first, address second) = funderProposes ? (funder, beneficiary) : (beneficiary, funder);
        (bool ok,) = _callAs(first, 0, abi.encodeCall(MilestoneEscrow.proposeDeadlineExtension, (id, idx, newDeadline)));
        _succeeded(ok);
        (ok,) = _callAs(second, 0, abi.encodeCall(MilestoneEscrow.confirmDeadlineExtension, (id, idx, newDeadline)));
        _succeeded(ok);
        (, uint64 nowDeadline,,,) = escrow.getMilestone(id, idx);
        if (nowDeadline != newDeadline) ghostExtensionLost = true;
        ++calls["extendDeadline"];
    }

    function warp(uint256 secondsSeed) external {
        now_ += bound(secondsSeed, 1, 5 days);
        vm.warp(now_);
        ++calls["warp"];
    }

    function toggleRejecting() external {
        rejecter.setRejecting(!rejecter.rejecting());
        ++calls["toggleRejecting"];
    }

    /// Paused about a fifth of the time (pausing blocks create and attest only).
    function setPaused(uint256 seed) external atNow {
        bool isPaused = escrow.paused(); // read first: a call after prank would consume it
        bool want = seed % 5 == 0;
        _succeeded(want != isPaused);
        vm.prank(owner);
        if (want) escrow.pause();
        else escrow.unpause();
        ++calls[want ? "pause" : "unpause"];
    }

    // ------------------------------------------------------------------ views for invariants

    function tokenCount() external view returns (uint256) {
        return tokens.length;
    }
}
