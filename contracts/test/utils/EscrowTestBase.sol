// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./Test.sol";
import {MilestoneEscrow} from "../../src/MilestoneEscrow.sol";
import {MockERC20} from "../../src/mocks/MockERC20.sol";

/// @dev Shared fixture: an escrow, a token, named accounts and agreement builders.
abstract contract EscrowTestBase is Test {
    MilestoneEscrow internal escrow;
    MockERC20 internal token;

    address internal owner;
    address internal funder;
    address internal beneficiary;
    address internal approver1;
    address internal approver2;
    address internal approver3;
    address internal stranger;

    /// @dev sha256("verification report A") (a literal: a sha256() call would consume a prank)
    bytes32 internal constant HASH_A = 0x35f15bf3093d5860826abbb3f2c01a8cefafcf5e7e3a325a3d9d5ca098d0974c;
    /// @dev sha256("verification report B") (a literal: a sha256() call would consume a prank)
    bytes32 internal constant HASH_B = 0xc712fa962492372cdf514bcad41aa84e39018dcf5057cbd15b285aed39dbbcf4;

    uint64 internal constant DAY = 1 days;
    uint256 internal constant START = 1_700_000_000;

    function setUp() public virtual {
        vm.warp(START);
        owner = makeAddr("owner");
        funder = makeAddr("funder");
        beneficiary = makeAddr("beneficiary");
        approver1 = makeAddr("approver1");
        approver2 = makeAddr("approver2");
        approver3 = makeAddr("approver3");
        stranger = makeAddr("stranger");

        escrow = new MilestoneEscrow(owner);
        token = new MockERC20("Test USD", "TUSD", 6);
        vm.label(address(escrow), "escrow");
        vm.label(address(token), "token");

        vm.deal(funder, 1_000_000 ether);
        token.mint(funder, 1e30);
        vm.prank(funder);
        token.approve(address(escrow), type(uint256).max);
    }

    // ---------------------------------------------------------------- builders

    function _amounts3() internal pure returns (uint128[] memory a) {
        a = new uint128[](3);
        a[0] = 1 ether;
        a[1] = 2 ether;
        a[2] = 3 ether;
    }

    function _deadlines3() internal view returns (uint64[] memory d) {
        d = new uint64[](3);
        d[0] = uint64(block.timestamp + 10 * DAY);
        d[1] = uint64(block.timestamp + 20 * DAY);
        d[2] = uint64(block.timestamp + 30 * DAY);
    }

    function _one(address a) internal pure returns (address[] memory arr) {
        arr = new address[](1);
        arr[0] = a;
    }

    function _three() internal view returns (address[] memory arr) {
        arr = new address[](3);
        arr[0] = approver1;
        arr[1] = approver2;
        arr[2] = approver3;
    }

    function _sum(uint128[] memory a) internal pure returns (uint256 s) {
        for (uint256 i; i < a.length; ++i) {
            s += a[i];
        }
    }

    /// @dev ETH agreement: 3 milestones (1, 2, 3 ether), 2-of-3 approvers.
    function _createEth() internal returns (uint256 id) {
        uint128[] memory amounts = _amounts3();
        vm.prank(funder);
        id = escrow.createAgreement{value: 6 ether}(
            beneficiary, address(0), amounts, _deadlines3(), _three(), 2, bytes32("ref")
        );
    }

    /// @dev Token agreement: 3 milestones (1, 2, 3 ether units), single approver.
    function _createToken() internal returns (uint256 id) {
        vm.prank(funder);
        id = escrow.createAgreement(
            beneficiary, address(token), _amounts3(), _deadlines3(), _one(approver1), 1, bytes32("ref")
        );
    }

    function _status(uint256 id, uint256 idx) internal view returns (MilestoneEscrow.MilestoneStatus status) {
        (,, status,,) = escrow.getMilestone(id, idx);
    }

    function _withdrawable(uint256 id) internal view returns (uint256 w) {
        (,,,,,,, w,) = escrow.getAgreement(id);
    }

    function _refundable(uint256 id) internal view returns (uint256 r) {
        (,,,,,,,, r) = escrow.getAgreement(id);
    }

    function _cancelState(uint256 id) internal view returns (MilestoneEscrow.CancelState s) {
        (,,,,,, s,,) = escrow.getAgreement(id);
    }

    function _approve2of3(uint256 id, uint256 idx, bytes32 h) internal {
        vm.prank(approver1);
        escrow.attest(id, idx, h);
        vm.prank(approver2);
        escrow.attest(id, idx, h);
    }
}
