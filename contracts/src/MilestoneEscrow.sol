// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title MilestoneEscrow
/// @notice Escrow for milestone-based funding agreements. One deployment holds many agreements.
///
/// A funder deposits the full amount of every milestone when the agreement is created (native ETH
/// when `token == address(0)`, otherwise an ERC-20). A k-of-n set of approvers attests each
/// milestone with the SHA-256 hash of its verification report; once `threshold` approvers have
/// attested, the milestone's amount becomes withdrawable by the beneficiary. Milestones that are
/// not approved by their deadline can be refunded to the funder by anyone. Funder and beneficiary
/// can jointly cancel every milestone that is still pending.
///
/// Design rules (see also contracts/README.md):
///
/// * Deposits. The deposit is taken in `createAgreement`. For an ERC-20 the contract credits the
///   balance delta it observes, and it must equal the sum of the milestone amounts exactly, so
///   every milestone is always fully funded and the books always balance. A fee-on-transfer token
///   (credited < sum) therefore reverts with {DepositMismatch}; so does a token that credits more
///   than was sent. Rebasing tokens are not supported.
/// * Evidence hash rule (v2): attestations are counted per evidence hash. A milestone is approved
///   when `threshold` approvers have attested the SAME hash; that hash becomes its approved evidence
///   hash ({approvedEvidenceHash}). An approver attesting a different hash never blocks the others:
///   its vote only counts for its own hash, and the disagreement stays visible on chain: every
///   {Attested} carries the approver, its hash and that hash's votes ({evidenceVotes} reads them).
///   Each approver attests a milestone once, so no hash can collect more than one vote per approver.
/// * Deadlines partition time: approvers may attest while `block.timestamp <= deadline`, anyone may
///   refund once `block.timestamp > deadline`. There is never a race between the two.
/// * Pull payments only. Approval credits the agreement's `withdrawable` balance, which only the
///   beneficiary can withdraw (`withdraw`). Refunds and cancellations credit the agreement's
///   `refundable` balance, which `claimRefund` pays to the funder (anyone may trigger it, the funds
///   only ever go to the funder). A beneficiary or funder that cannot receive funds (reverting
///   contract, token blocklist) only ever blocks its own payout, never anyone else's.
/// * Pause (owner, for emergencies) blocks `createAgreement` and `attest`: no new money comes in and
///   no new release can be approved while an incident is investigated (e.g. a compromised approver
///   key). It never blocks `withdraw`, `refund`, `claimRefund` or cancellation: these only move
///   already-settled funds to the party entitled to them, so pausing can never trap anyone's money
///   and the owner has no power over escrowed funds. Consequence: a milestone whose deadline passes
///   while the contract is paused can be refunded, unless funder and beneficiary extend its deadline
///   first (extension is not blocked by pause either).
/// * Deadline extension: funder and beneficiary together can move a pending milestone's deadline
///   later, before it passes: one proposes ({proposeDeadlineExtension}), the other confirms the
///   same new deadline ({confirmDeadlineExtension}).
contract MilestoneEscrow is Ownable2Step, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Lifecycle of one milestone. `None` means "does not exist".
    enum MilestoneStatus {
        None,
        Pending,
        Approved,
        Refunded,
        Cancelled
    }

    /// @notice Mutual-cancellation state of an agreement.
    enum CancelState {
        None,
        ProposedByFunder,
        ProposedByBeneficiary,
        Cancelled
    }

    /// @dev One storage slot (248 bits) for everything `attest` and `refund` touch, plus the approved
    /// hash. Votes are counted per evidence hash in `_votes`; the vote that reaches the threshold is
    /// not written there (an approved milestone takes no more votes, so the approved hash has exactly
    /// `threshold` votes: {evidenceVotes}), and writes the approved hash instead. Every path of
    /// `attest` therefore writes one new slot at most, as the single bound hash of v1 did.
    struct Milestone {
        // slot 0
        uint128 amount;
        uint64 deadline;
        MilestoneStatus status;
        uint8 approvals; // attestations of this milestone, all hashes together
        uint32 attestedMask; // bit i set = approver with index i attested
        uint8 threshold; // copy of the agreement's threshold: attest reads a single slot
        // slot 1
        bytes32 evidenceHash; // the approved hash (zero until Approved)
    }

    /// @dev A proposed deadline of one milestone, waiting for the other party (one slot).
    struct DeadlineProposal {
        address proposer;
        uint64 deadline;
    }

    /// @dev Three slots. Each pull balance shares a slot with the address it is paid to, so a
    /// credit or a payout rewrites an already non-zero slot (no 20k zero-to-non-zero store).
    /// The uint96 balances cap an agreement's total at 2^96 - 1 base units (~7.9e28: 79 billion
    /// tokens of 18 decimals), enforced at creation ({TotalTooLarge}), so they can never overflow.
    struct Agreement {
        // slot 0: read by withdraw, credited by attest
        address beneficiary;
        uint96 withdrawable; // approved, not yet withdrawn by the beneficiary
        // slot 1: credited by refund / cancel, paid by claimRefund
        address funder;
        uint96 refundable; // refunded / cancelled, not yet paid to the funder
        // slot 2
        address token; // address(0) = native ETH
        uint8 threshold;
        uint8 approverCount;
        uint8 milestoneCount;
        CancelState cancelState;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Maximum number of milestones per agreement (bounds the cancel loop).
    uint256 public constant MAX_MILESTONES = 64;

    /// @notice Maximum number of approvers per agreement (size of the attestation bitmap).
    uint256 public constant MAX_APPROVERS = 32;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @notice Number of agreements created so far; agreement ids are 1..agreementCount.
    uint256 public agreementCount;

    mapping(uint256 agreementId => Agreement) private _agreements;
    mapping(uint256 agreementId => mapping(uint256 index => Milestone)) private _milestones;
    /// @dev approver => (index in the approver list + 1); 0 = not an approver.
    mapping(uint256 agreementId => mapping(address approver => uint256 slotPlusOne)) private _approverSlot;
    mapping(uint256 agreementId => address[]) private _approvers;
    /// @dev Votes per evidence hash of a pending milestone (see {Milestone}).
    mapping(uint256 agreementId => mapping(uint256 index => mapping(bytes32 evidenceHash => uint256 votes))) private
        _votes;
    mapping(uint256 agreementId => mapping(uint256 index => DeadlineProposal)) private _deadlineProposals;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A new agreement was created and fully funded.
    /// @param agreementId Id of the new agreement.
    /// @param funder Account that deposited the funds (receives refunds).
    /// @param beneficiary Account that can withdraw approved milestones.
    /// @param token ERC-20 token, or address(0) for native ETH.
    /// @param totalAmount Sum of all milestone amounts (= amount deposited).
    /// @param threshold Number of approver attestations needed to approve a milestone.
    /// @param approvers The approver set.
    /// @param externalRef Opaque reference supplied by the funder (e.g. hash of the off-chain record).
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

    /// @notice A milestone of a newly created agreement (one event per milestone, after AgreementCreated).
    event MilestoneCreated(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, uint256 amount, uint256 deadline
    );

    /// @notice An approver attested a milestone with the given evidence hash.
    /// @param approvals Number of attestations of this milestone with this same evidence hash so far
    /// (including this one): the hash's vote count. Approval happens when it reaches the threshold.
    event Attested(
        uint256 indexed agreementId,
        uint256 indexed milestoneIndex,
        address indexed approver,
        bytes32 evidenceHash,
        uint256 approvals
    );

    /// @notice A milestone reached its threshold; `amount` became withdrawable by the beneficiary.
    event MilestoneApproved(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, bytes32 indexed evidenceHash, uint256 amount
    );

    /// @notice The beneficiary withdrew all approved, not yet withdrawn funds of an agreement.
    event Withdrawn(uint256 indexed agreementId, address indexed beneficiary, address indexed token, uint256 amount);

    /// @notice An unapproved milestone past its deadline was refunded: `amount` was credited to the funder.
    /// @param caller Account that triggered the refund (anyone).
    event MilestoneRefunded(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, address indexed caller, uint256 amount
    );

    /// @notice Refunded/cancelled funds of an agreement were paid to its funder.
    event RefundClaimed(uint256 indexed agreementId, address indexed funder, address indexed token, uint256 amount);

    /// @notice Funder or beneficiary proposed cancelling all pending milestones.
    event CancelProposed(uint256 indexed agreementId, address indexed proposer);

    /// @notice The proposer withdrew its cancellation proposal.
    event CancelProposalRevoked(uint256 indexed agreementId, address indexed proposer);

    /// @notice A pending milestone was cancelled by mutual agreement; `amount` was credited to the funder.
    event MilestoneCancelled(uint256 indexed agreementId, uint256 indexed milestoneIndex, uint256 amount);

    /// @notice The other party confirmed the cancellation.
    /// @param refundedAmount Total amount of the cancelled milestones, credited to the funder.
    /// @param milestonesCancelled Number of milestones that were cancelled.
    event AgreementCancelled(
        uint256 indexed agreementId, address indexed confirmer, uint256 refundedAmount, uint256 milestonesCancelled
    );

    /// @notice Funder or beneficiary proposed moving a pending milestone's deadline to `newDeadline`.
    event DeadlineExtensionProposed(
        uint256 indexed agreementId, uint256 indexed milestoneIndex, address indexed proposer, uint256 newDeadline
    );

    /// @notice The other party confirmed: the milestone's deadline moved from `oldDeadline` to `newDeadline`.
    event DeadlineExtended(
        uint256 indexed agreementId,
        uint256 indexed milestoneIndex,
        address indexed confirmer,
        uint256 oldDeadline,
        uint256 newDeadline
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error InvalidBeneficiary(address beneficiary);
    error InvalidMilestoneCount(uint256 count);
    error LengthMismatch(uint256 amounts, uint256 deadlines);
    error ZeroAmount(uint256 milestoneIndex);
    error DeadlineNotInFuture(uint256 milestoneIndex, uint256 deadline);
    error TotalTooLarge(uint256 total);
    error InvalidApproverCount(uint256 count);
    error InvalidApprover(address approver);
    error DuplicateApprover(address approver);
    error InvalidThreshold(uint256 threshold, uint256 approverCount);
    error IncorrectNativeAmount(uint256 expected, uint256 received);
    error DepositMismatch(uint256 expected, uint256 credited);
    error ZeroEvidenceHash();
    error NotApprover(uint256 agreementId, address account);
    error UnknownMilestone(uint256 agreementId, uint256 milestoneIndex);
    error MilestoneNotPending(uint256 agreementId, uint256 milestoneIndex, MilestoneStatus status);
    error DeadlinePassed(uint256 agreementId, uint256 milestoneIndex, uint256 deadline);
    error DeadlineNotReached(uint256 agreementId, uint256 milestoneIndex, uint256 deadline);
    error AlreadyAttested(uint256 agreementId, uint256 milestoneIndex, address approver);
    error NotBeneficiary(uint256 agreementId, address account);
    error NothingToWithdraw(uint256 agreementId);
    error NothingToClaim(uint256 agreementId);
    error UnknownAgreement(uint256 agreementId);
    error NotParty(uint256 agreementId, address account);
    error CancelNotAllowed(uint256 agreementId, CancelState state);
    error RenounceWhilePaused();
    error DeadlineNotLater(uint256 agreementId, uint256 milestoneIndex, uint256 deadline, uint256 newDeadline);
    error NoDeadlineProposal(uint256 agreementId, uint256 milestoneIndex, uint256 newDeadline);

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param initialOwner Account allowed to pause/unpause (e.g. an operations multisig).
    constructor(address initialOwner) Ownable(initialOwner) {}

    /*//////////////////////////////////////////////////////////////
                               AGREEMENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Create and fully fund a milestone agreement. The caller is the funder.
    /// @dev For native ETH send exactly the sum of `amounts` as `msg.value`. For an ERC-20 approve
    /// this contract for the sum first; the observed balance delta must equal the sum exactly
    /// (fee-on-transfer tokens revert with {DepositMismatch}). Reverts while paused.
    /// @param beneficiary Receiver of approved milestones; not the funder, not an approver.
    /// @param token ERC-20 token address, or address(0) for native ETH.
    /// @param amounts Amount of each milestone (each > 0). 1..MAX_MILESTONES entries.
    /// @param deadlines Deadline (unix seconds) of each milestone, each strictly in the future.
    /// @param approvers Approver set (1..MAX_APPROVERS distinct non-zero addresses; may be a single Safe).
    /// @param threshold Attestations needed per milestone (1..approvers.length).
    /// @param externalRef Opaque reference echoed in {AgreementCreated} (e.g. hash of the off-chain record).
    /// @return agreementId Id of the new agreement.
    function createAgreement(
        address beneficiary,
        address token,
        uint128[] calldata amounts,
        uint64[] calldata deadlines,
        address[] calldata approvers,
        uint8 threshold,
        bytes32 externalRef
    ) external payable nonReentrant whenNotPaused returns (uint256 agreementId) {
        _validateTerms(beneficiary, token, amounts.length, deadlines.length, approvers.length, threshold);

        // ---- effects ----
        agreementId = ++agreementCount;
        uint256 total = _storeMilestones(agreementId, amounts, deadlines, threshold);
        if (token == address(0) && msg.value != total) revert IncorrectNativeAmount(total, msg.value);
        _storeApprovers(agreementId, approvers, beneficiary);
        _agreements[agreementId] = Agreement({
            beneficiary: beneficiary,
            withdrawable: 0,
            funder: msg.sender,
            refundable: 0,
            token: token,
            threshold: threshold,
            approverCount: uint8(approvers.length),
            milestoneCount: uint8(amounts.length),
            cancelState: CancelState.None
        });
        emit AgreementCreated(agreementId, msg.sender, beneficiary, token, total, threshold, approvers, externalRef);
        _emitMilestones(agreementId, amounts, deadlines);

        // ---- interactions (ERC-20 only; native ETH arrived with the call) ----
        if (token != address(0)) _pullDeposit(IERC20(token), total);
    }

    /*//////////////////////////////////////////////////////////////
                              ATTESTATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Attest a milestone as an approver of its agreement.
    /// @dev Votes are counted per evidence hash: the milestone is approved when `threshold` approvers
    /// have attested the same hash, and its amount is credited to the beneficiary's withdrawable
    /// balance of this agreement. An approver attesting another hash blocks no one: its vote counts
    /// for its own hash only. One attestation per approver per milestone. Only allowed while
    /// `block.timestamp <= deadline` and while not paused.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @param evidenceHash SHA-256 hash of the verification report (non-zero).
    function attest(uint256 agreementId, uint256 milestoneIndex, bytes32 evidenceHash)
        external
        nonReentrant
        whenNotPaused
    {
        if (evidenceHash == bytes32(0)) revert ZeroEvidenceHash();
        uint256 slotPlusOne = _approverSlot[agreementId][msg.sender];
        if (slotPlusOne == 0) revert NotApprover(agreementId, msg.sender);

        Milestone storage m = _milestones[agreementId][milestoneIndex];
        Milestone memory cur = m;
        if (cur.status != MilestoneStatus.Pending) {
            if (cur.status == MilestoneStatus.None) revert UnknownMilestone(agreementId, milestoneIndex);
            revert MilestoneNotPending(agreementId, milestoneIndex, cur.status);
        }
        // Deadlines are day-scale, so a validator's few seconds of timestamp leeway are irrelevant.
        // slither-disable-next-line timestamp
        if (block.timestamp > cur.deadline) revert DeadlinePassed(agreementId, milestoneIndex, cur.deadline);
        // forge-lint: disable-next-line(incorrect-shift)
        uint32 bit = uint32(1 << (slotPlusOne - 1)); // slotPlusOne is 1..32, so the cast is exact
        if (cur.attestedMask & bit != 0) revert AlreadyAttested(agreementId, milestoneIndex, msg.sender);

        (uint256 votes, bool approved) = _countVote(agreementId, milestoneIndex, cur.threshold, evidenceHash);

        m.attestedMask = cur.attestedMask | bit;
        m.approvals = cur.approvals + 1;
        if (approved) {
            m.status = MilestoneStatus.Approved;
            m.evidenceHash = evidenceHash;
            // Cannot overflow or truncate: the agreement total fits in uint96.
            // forge-lint: disable-next-line(unsafe-typecast)
            _agreements[agreementId].withdrawable += uint96(cur.amount);
        }

        emit Attested(agreementId, milestoneIndex, msg.sender, evidenceHash, votes);
        if (approved) emit MilestoneApproved(agreementId, milestoneIndex, evidenceHash, cur.amount);
    }

    /*//////////////////////////////////////////////////////////////
                           DEADLINE EXTENSION
    //////////////////////////////////////////////////////////////*/

    /// @notice Propose moving a pending milestone's deadline later (funder or beneficiary).
    /// @dev The other party must call {confirmDeadlineExtension} with the same `newDeadline` before
    /// the current deadline passes. A new proposal (by either party) replaces the open one. Not
    /// blocked by pause, so the parties can keep a milestone alive across an emergency stop.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @param newDeadline The proposed deadline (unix seconds), later than the current one.
    function proposeDeadlineExtension(uint256 agreementId, uint256 milestoneIndex, uint64 newDeadline)
        external
        nonReentrant
    {
        Agreement storage a = _agreements[agreementId];
        if (msg.sender != a.funder && msg.sender != a.beneficiary) revert NotParty(agreementId, msg.sender);
        _checkExtendable(agreementId, milestoneIndex, newDeadline);
        _deadlineProposals[agreementId][milestoneIndex] =
            DeadlineProposal({proposer: msg.sender, deadline: newDeadline});
        emit DeadlineExtensionProposed(agreementId, milestoneIndex, msg.sender, newDeadline);
    }

    /// @notice Confirm the other party's proposed deadline: the milestone's deadline moves to it.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @param newDeadline The proposed deadline, repeated (a proposal replaced meanwhile is not confirmed).
    function confirmDeadlineExtension(uint256 agreementId, uint256 milestoneIndex, uint64 newDeadline)
        external
        nonReentrant
    {
        Agreement storage a = _agreements[agreementId];
        if (msg.sender != a.funder && msg.sender != a.beneficiary) revert NotParty(agreementId, msg.sender);
        uint256 oldDeadline = _checkExtendable(agreementId, milestoneIndex, newDeadline);
        DeadlineProposal memory p = _deadlineProposals[agreementId][milestoneIndex];
        if (p.proposer == address(0) || p.proposer == msg.sender || p.deadline != newDeadline) {
            revert NoDeadlineProposal(agreementId, milestoneIndex, newDeadline);
        }
        delete _deadlineProposals[agreementId][milestoneIndex];
        _milestones[agreementId][milestoneIndex].deadline = newDeadline;
        emit DeadlineExtended(agreementId, milestoneIndex, msg.sender, oldDeadline, newDeadline);
    }

    /*//////////////////////////////////////////////////////////////
                                PAYOUTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Withdraw every approved, not yet withdrawn milestone amount of an agreement.
    /// @dev Pull payment, callable only by the agreement's beneficiary. Never blocked by pause.
    /// @param agreementId Agreement id.
    /// @return amount Amount paid to the beneficiary (in the agreement's token).
    function withdraw(uint256 agreementId) external nonReentrant returns (uint256 amount) {
        Agreement storage a = _agreements[agreementId];
        address beneficiary = a.beneficiary;
        if (msg.sender != beneficiary) revert NotBeneficiary(agreementId, msg.sender);
        amount = a.withdrawable;
        if (amount == 0) revert NothingToWithdraw(agreementId);
        a.withdrawable = 0;
        address token = a.token;
        emit Withdrawn(agreementId, beneficiary, token, amount);
        _pay(token, beneficiary, amount);
    }

    /// @notice Refund an unapproved milestone whose deadline has passed.
    /// @dev Callable by anyone (so automation can trigger it) once `block.timestamp > deadline`.
    /// Credits the milestone amount to the agreement's refundable balance; {claimRefund} pays it to
    /// the funder. No transfer happens here, so a funder that cannot receive funds never blocks the
    /// refund bookkeeping. Never blocked by pause.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @return amount Amount credited to the funder.
    function refund(uint256 agreementId, uint256 milestoneIndex) external nonReentrant returns (uint256 amount) {
        Milestone storage m = _milestones[agreementId][milestoneIndex];
        MilestoneStatus status = m.status;
        if (status != MilestoneStatus.Pending) {
            if (status == MilestoneStatus.None) revert UnknownMilestone(agreementId, milestoneIndex);
            revert MilestoneNotPending(agreementId, milestoneIndex, status);
        }
        uint256 deadline = m.deadline;
        // Deadlines are day-scale, so a validator's few seconds of timestamp leeway are irrelevant.
        // slither-disable-next-line timestamp
        if (block.timestamp <= deadline) revert DeadlineNotReached(agreementId, milestoneIndex, deadline);
        m.status = MilestoneStatus.Refunded;
        amount = m.amount;
        // Cannot overflow or truncate: the agreement total fits in uint96.
        // forge-lint: disable-next-line(unsafe-typecast)
        _agreements[agreementId].refundable += uint96(amount);
        emit MilestoneRefunded(agreementId, milestoneIndex, msg.sender, amount);
    }

    /// @notice Pay an agreement's refundable balance (refunded and cancelled milestones) to its funder.
    /// @dev Callable by anyone; the funds only ever go to the funder. Never blocked by pause.
    /// @param agreementId Agreement id.
    /// @return amount Amount paid to the funder.
    function claimRefund(uint256 agreementId) external nonReentrant returns (uint256 amount) {
        Agreement storage a = _agreements[agreementId];
        amount = a.refundable;
        if (amount == 0) revert NothingToClaim(agreementId);
        a.refundable = 0;
        address funder = a.funder;
        address token = a.token;
        emit RefundClaimed(agreementId, funder, token, amount);
        _pay(token, funder, amount);
    }

    /*//////////////////////////////////////////////////////////////
                              CANCELLATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Propose cancelling all pending milestones of an agreement (funder or beneficiary).
    /// @dev The other party must call {confirmCancel}. Only one proposal can be open at a time.
    /// @param agreementId Agreement id.
    function proposeCancel(uint256 agreementId) external nonReentrant {
        Agreement storage a = _agreements[agreementId];
        CancelState state = a.cancelState;
        if (state != CancelState.None) revert CancelNotAllowed(agreementId, state);
        if (msg.sender == a.funder) {
            a.cancelState = CancelState.ProposedByFunder;
        } else if (msg.sender == a.beneficiary) {
            a.cancelState = CancelState.ProposedByBeneficiary;
        } else {
            revert NotParty(agreementId, msg.sender);
        }
        emit CancelProposed(agreementId, msg.sender);
    }

    /// @notice Withdraw one's own open cancellation proposal.
    /// @param agreementId Agreement id.
    function revokeCancel(uint256 agreementId) external nonReentrant {
        Agreement storage a = _agreements[agreementId];
        CancelState state = a.cancelState;
        if (
            !(state == CancelState.ProposedByFunder && msg.sender == a.funder)
                && !(state == CancelState.ProposedByBeneficiary && msg.sender == a.beneficiary)
        ) {
            if (msg.sender != a.funder && msg.sender != a.beneficiary) {
                revert NotParty(agreementId, msg.sender);
            }
            revert CancelNotAllowed(agreementId, state);
        }
        a.cancelState = CancelState.None;
        emit CancelProposalRevoked(agreementId, msg.sender);
    }

    /// @notice Confirm the other party's cancellation proposal: every still-pending milestone is
    /// cancelled and its amount credited to the funder's refundable balance. Approved milestones stay
    /// withdrawable by the beneficiary. The agreement is final afterwards. Never blocked by pause.
    /// @param agreementId Agreement id.
    /// @return refunded Total amount credited to the funder.
    function confirmCancel(uint256 agreementId) external nonReentrant returns (uint256 refunded) {
        Agreement storage a = _agreements[agreementId];
        CancelState state = a.cancelState;
        if (
            !(state == CancelState.ProposedByFunder && msg.sender == a.beneficiary)
                && !(state == CancelState.ProposedByBeneficiary && msg.sender == a.funder)
        ) {
            if (msg.sender != a.funder && msg.sender != a.beneficiary) {
                revert NotParty(agreementId, msg.sender);
            }
            revert CancelNotAllowed(agreementId, state);
        }
        a.cancelState = CancelState.Cancelled;

        uint256 count = a.milestoneCount;
        uint256 cancelled = 0;
        mapping(uint256 => Milestone) storage ms = _milestones[agreementId];
        for (uint256 i; i < count; ++i) {
            Milestone storage m = ms[i];
            if (m.status == MilestoneStatus.Pending) {
                m.status = MilestoneStatus.Cancelled;
                uint256 amount = m.amount;
                refunded += amount;
                ++cancelled;
                emit MilestoneCancelled(agreementId, i, amount);
            }
        }
        // Cannot overflow or truncate: bounded by the agreement total, which fits in uint96.
        // forge-lint: disable-next-line(unsafe-typecast)
        a.refundable += uint96(refunded);
        emit AgreementCancelled(agreementId, msg.sender, refunded, cancelled);
    }

    /*//////////////////////////////////////////////////////////////
                                 ADMIN
    //////////////////////////////////////////////////////////////*/

    /// @notice Emergency stop: blocks `createAgreement` and `attest` only (see contract docs).
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Lift the emergency stop.
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Give up ownership. Refused while paused, so the contract can never stay paused forever.
    function renounceOwnership() public override onlyOwner {
        if (paused()) revert RenounceWhilePaused();
        super.renounceOwnership();
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Agreement data.
    /// @param agreementId Agreement id.
    /// @return funder Funder (receives refunds).
    /// @return beneficiary Beneficiary (withdraws approved milestones).
    /// @return token ERC-20 token or address(0) for native ETH.
    /// @return threshold Attestations needed per milestone.
    /// @return approverCount Number of approvers.
    /// @return milestoneCount Number of milestones.
    /// @return cancelState Mutual-cancellation state.
    /// @return withdrawable Approved amount not yet withdrawn by the beneficiary.
    /// @return refundable Refunded/cancelled amount not yet paid to the funder.
    function getAgreement(uint256 agreementId)
        external
        view
        returns (
            address funder,
            address beneficiary,
            address token,
            uint8 threshold,
            uint8 approverCount,
            uint8 milestoneCount,
            CancelState cancelState,
            uint256 withdrawable,
            uint256 refundable
        )
    {
        Agreement storage a = _agreements[agreementId];
        if (a.beneficiary == address(0)) revert UnknownAgreement(agreementId);
        return (
            a.funder,
            a.beneficiary,
            a.token,
            a.threshold,
            a.approverCount,
            a.milestoneCount,
            a.cancelState,
            a.withdrawable,
            a.refundable
        );
    }

    /// @notice Milestone data.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @return amount Milestone amount.
    /// @return deadline Deadline (unix seconds).
    /// @return status Milestone status.
    /// @return approvals Number of attestations so far, all evidence hashes together.
    /// @return evidenceHash The approved evidence hash (zero until Approved); the votes of a pending
    /// milestone are per hash ({evidenceVotes}).
    function getMilestone(uint256 agreementId, uint256 milestoneIndex)
        external
        view
        returns (uint128 amount, uint64 deadline, MilestoneStatus status, uint8 approvals, bytes32 evidenceHash)
    {
        Milestone storage m = _milestones[agreementId][milestoneIndex];
        if (m.status == MilestoneStatus.None) revert UnknownMilestone(agreementId, milestoneIndex);
        return (m.amount, m.deadline, m.status, m.approvals, m.evidenceHash);
    }

    /// @notice The evidence hash a milestone was approved with; zero unless it is Approved.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @return evidenceHash The hash `threshold` approvers attested.
    function approvedEvidenceHash(uint256 agreementId, uint256 milestoneIndex)
        external
        view
        returns (bytes32 evidenceHash)
    {
        Milestone storage m = _milestones[agreementId][milestoneIndex];
        return m.status == MilestoneStatus.Approved ? m.evidenceHash : bytes32(0);
    }

    /// @notice How many approvers attested a milestone with `evidenceHash`.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @param evidenceHash Evidence hash.
    /// @return votes Attestations of this milestone with exactly this hash.
    function evidenceVotes(uint256 agreementId, uint256 milestoneIndex, bytes32 evidenceHash)
        external
        view
        returns (uint256 votes)
    {
        Milestone storage m = _milestones[agreementId][milestoneIndex];
        if (evidenceHash == bytes32(0)) return 0;
        // The approving vote is not stored: the approved hash has exactly `threshold` votes.
        if (m.status == MilestoneStatus.Approved && m.evidenceHash == evidenceHash) return m.threshold;
        return _votes[agreementId][milestoneIndex][evidenceHash];
    }

    /// @notice The open deadline proposal of a milestone (proposer zero if none).
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @return proposer Who proposed it (funder or beneficiary).
    /// @return newDeadline The proposed deadline.
    function deadlineProposal(uint256 agreementId, uint256 milestoneIndex)
        external
        view
        returns (address proposer, uint64 newDeadline)
    {
        DeadlineProposal memory p = _deadlineProposals[agreementId][milestoneIndex];
        return (p.proposer, p.deadline);
    }

    /// @notice The approver set of an agreement.
    /// @param agreementId Agreement id.
    /// @return approvers Approver addresses, in creation order.
    function getApprovers(uint256 agreementId) external view returns (address[] memory approvers) {
        return _approvers[agreementId];
    }

    /// @notice Whether `account` is an approver of the agreement.
    /// @param agreementId Agreement id.
    /// @param account Account to check.
    /// @return True if `account` is an approver.
    function isApprover(uint256 agreementId, address account) external view returns (bool) {
        return _approverSlot[agreementId][account] != 0;
    }

    /// @notice Whether `account` has attested the milestone.
    /// @param agreementId Agreement id.
    /// @param milestoneIndex Index of the milestone (0-based).
    /// @param account Account to check.
    /// @return True if `account` is an approver and has attested this milestone.
    function hasAttested(uint256 agreementId, uint256 milestoneIndex, address account) external view returns (bool) {
        uint256 slotPlusOne = _approverSlot[agreementId][account];
        if (slotPlusOne == 0) return false;
        return (uint256(_milestones[agreementId][milestoneIndex].attestedMask) >> (slotPlusOne - 1)) & 1 == 1;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Validates the shape of new agreement terms (amounts and deadlines are checked when stored).
    function _validateTerms(
        address beneficiary,
        address token,
        uint256 count,
        uint256 deadlineCount,
        uint256 approverCount,
        uint256 threshold
    ) private view {
        if (beneficiary == address(0) || beneficiary == msg.sender || beneficiary == address(this)) {
            revert InvalidBeneficiary(beneficiary);
        }
        if (count == 0 || count > MAX_MILESTONES) revert InvalidMilestoneCount(count);
        if (deadlineCount != count) revert LengthMismatch(count, deadlineCount);
        if (approverCount == 0 || approverCount > MAX_APPROVERS) revert InvalidApproverCount(approverCount);
        if (threshold == 0 || threshold > approverCount) revert InvalidThreshold(threshold, approverCount);
        // ERC-20 agreements take no ETH; the exact msg.value of ETH agreements is checked once the
        // total is known.
        if (token != address(0) && msg.value != 0) revert IncorrectNativeAmount(0, msg.value);
    }

    /// @dev Counts one vote for `evidenceHash`; returns its votes and whether they reach the
    /// threshold. The vote that reaches it is not written (see {Milestone}); with a threshold of 1
    /// the first vote always does, so nothing is read either.
    function _countVote(uint256 agreementId, uint256 milestoneIndex, uint256 threshold, bytes32 evidenceHash)
        private
        returns (uint256 votes, bool approved)
    {
        votes = (threshold == 1 ? 0 : _votes[agreementId][milestoneIndex][evidenceHash]) + 1;
        approved = votes >= threshold;
        if (!approved) _votes[agreementId][milestoneIndex][evidenceHash] = votes;
    }

    /// @dev A deadline extension is possible while the milestone is pending and its deadline has not
    /// passed, to a later deadline. Returns the current deadline.
    function _checkExtendable(uint256 agreementId, uint256 milestoneIndex, uint64 newDeadline)
        private
        view
        returns (uint256 deadline)
    {
        Milestone storage m = _milestones[agreementId][milestoneIndex];
        MilestoneStatus status = m.status;
        if (status != MilestoneStatus.Pending) {
            if (status == MilestoneStatus.None) revert UnknownMilestone(agreementId, milestoneIndex);
            revert MilestoneNotPending(agreementId, milestoneIndex, status);
        }
        deadline = m.deadline;
        // Deadlines are day-scale, so a validator's few seconds of timestamp leeway are irrelevant.
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert DeadlinePassed(agreementId, milestoneIndex, deadline);
        if (newDeadline <= deadline) revert DeadlineNotLater(agreementId, milestoneIndex, deadline, newDeadline);
    }

    /// @dev Pulls `total` tokens from the funder; the observed balance delta must equal `total`.
    function _pullDeposit(IERC20 token, uint256 total) private {
        uint256 balanceBefore = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), total);
        uint256 credited = token.balanceOf(address(this)) - balanceBefore;
        if (credited != total) revert DepositMismatch(total, credited);
    }

    /// @dev Validates and stores the milestones of a new agreement; returns their total.
    function _storeMilestones(
        uint256 agreementId,
        uint128[] calldata amounts,
        uint64[] calldata deadlines,
        uint8 threshold
    ) private returns (uint256 total) {
        mapping(uint256 => Milestone) storage ms = _milestones[agreementId];
        uint256 count = amounts.length;
        for (uint256 i; i < count; ++i) {
            uint128 amount = amounts[i];
            uint64 deadline = deadlines[i];
            if (amount == 0) revert ZeroAmount(i);
            // Deadlines are day-scale, so a validator's few seconds of timestamp leeway are irrelevant.
            // slither-disable-next-line timestamp
            if (deadline <= block.timestamp) revert DeadlineNotInFuture(i, deadline);
            total += amount;
            ms[i] = Milestone({
                amount: amount,
                deadline: deadline,
                status: MilestoneStatus.Pending,
                approvals: 0,
                attestedMask: 0,
                threshold: threshold,
                evidenceHash: bytes32(0)
            });
        }
        // Both pull balances are uint96; the total must fit so no credit can ever overflow.
        if (total > type(uint96).max) revert TotalTooLarge(total);
    }

    /// @dev One {MilestoneCreated} per milestone, after {AgreementCreated}.
    function _emitMilestones(uint256 agreementId, uint128[] calldata amounts, uint64[] calldata deadlines) private {
        uint256 count = amounts.length;
        for (uint256 i; i < count; ++i) {
            emit MilestoneCreated(agreementId, i, amounts[i], deadlines[i]);
        }
    }

    /// @dev Validates and stores the approver set of a new agreement.
    function _storeApprovers(uint256 agreementId, address[] calldata approvers, address beneficiary) private {
        mapping(address => uint256) storage slotOf = _approverSlot[agreementId];
        uint256 count = approvers.length;
        for (uint256 i; i < count; ++i) {
            address approver = approvers[i];
            if (approver == address(0) || approver == beneficiary) revert InvalidApprover(approver);
            if (slotOf[approver] != 0) revert DuplicateApprover(approver);
            slotOf[approver] = i + 1;
        }
        _approvers[agreementId] = approvers;
    }

    /// @dev Pays `amount` of `token` (address(0) = ETH) to `to`. Called last, after all effects.
    function _pay(address token, address to, uint256 amount) private {
        if (token == address(0)) {
            Address.sendValue(payable(to), amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }
}
