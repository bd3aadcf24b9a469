"""The funding state machines, declared once: grants, investments and milestones (see apps/core/transitions.py).

The services in apps/funding/services call `GRANTS.run`, `INVESTMENTS.run` and `MILESTONES.run`; the API's
`allowed_actions`, the dashboard's buttons and the admin's actions read these same tables.
"""

from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils.module_loading import import_string

from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.core.transitions import Machine, Transition, change_fields
from apps.funding import permissions as p
from apps.funding.models import (
    OPEN_MILESTONE_STATUSES,
    ApprovalPurpose,
    Grant,
    GrantStatus,
    Investment,
    InvestmentStatus,
    Milestone,
    MilestoneApproval,
    MilestoneStatus,
    OrganizationPolicy,
)
from apps.webhooks.models import WebhookEvent

G, INV, M = GrantStatus, InvestmentStatus, MilestoneStatus
FINAL_MILESTONE_STATUSES = (M.RELEASED, M.MISSED, M.REFUNDED)


def policy_for(organization, *, fresh: bool = False) -> OrganizationPolicy:
    """The organization's policy, or the defaults (unsaved) when it never changed them.

    Kept on the organization object for the rest of a request (a page of milestones asks once); a transition
    asks `fresh=True` so its decision is made on the policy as it is now."""
    cached = getattr(organization, "_govtrack_policy", None)
    if cached is not None and not fresh:
        return cached
    policy = OrganizationPolicy.objects.filter(organization=organization).first()
    policy = policy or OrganizationPolicy(organization=organization)
    organization._govtrack_policy = policy
    return policy


def organization_shared(milestones: list[Milestone], organization) -> list[Milestone]:
    """Points each of these milestones (all of `organization`) at that one organization object: the policy their
    guards read is then fetched once for the page, when first asked (`policy_for` keeps it on the object), rather
    than once a milestone, as it would be with an organization object of each row's own."""
    for milestone in milestones:
        if milestone.organization_id != organization.pk:
            raise ValueError(f"Milestone {milestone.pk} is not of organization {organization.pk}.")
        milestone.organization = organization
    return milestones


# --- grants ---------------------------------------------------------------------------------------------------


def _grant_effects(grant: Grant, before: str, transition: Transition, by, reason: str) -> None:
    from apps.webhooks.services import webhook_emit

    webhook_emit(
        organization=grant.organization,
        event_type=WebhookEvent.GRANT_STATUS_CHANGED,
        data={"grant_id": str(grant.pk), "title": grant.title, "from": before, "to": grant.status, "reason": reason},
    )


def _award_covers_milestones(grant: Grant, by, params: dict) -> None:
    if params.get("amount_awarded") is None:
        return
    planned = grant.milestones.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    if params["amount_awarded"] < planned:
        raise ValidationFailed.for_field(
            "amount_awarded",
            f"The award ({params['amount_awarded']}) is below the milestones already planned ({planned}).",
        )


def _record_award(grant: Grant, by, params: dict) -> None:
    if params.get("amount_awarded") is None:
        raise ValidationFailed.for_field("amount_awarded", "Give the amount awarded.")
    change_fields(params, grant, {"amount_awarded": params["amount_awarded"]})


def _milestones_settled(grant: Grant, by, params: dict) -> None:
    open_titles = list(grant.milestones.exclude(status__in=FINAL_MILESTONE_STATUSES).values_list("title", flat=True))
    if open_titles:
        raise Conflict(
            f"Cannot close this grant: {len(open_titles)} milestone(s) are not settled "
            f"(released, missed or refunded): {', '.join(open_titles[:5])}.",
            {"open_milestones": open_titles},
        )


GRANTS = Machine(
    model=Grant,
    audit_action="grant.status_changed",
    effects=_grant_effects,
    transitions=[
        Transition("submit", (G.DRAFT,), G.SUBMITTED, p.can_change_grant_status, "submit", "Submit to the funder"),
        Transition(
            "start_review",
            (G.SUBMITTED,),
            G.UNDER_REVIEW,
            p.can_change_grant_status,
            "start the review of",
            "Start review",
        ),
        Transition(
            "award",
            (G.UNDER_REVIEW,),
            G.AWARDED,
            p.can_change_grant_status,
            "award",
            "Record the award",
            guards=(_award_covers_milestones,),
            record=_record_award,
        ),
        Transition(
            "reject",
            (G.SUBMITTED, G.UNDER_REVIEW),
            G.REJECTED,
            p.can_change_grant_status,
            "reject",
            "Reject",
            reason="required",
            confirm="Reject this grant? This cannot be undone.",
        ),
        Transition("activate", (G.AWARDED,), G.ACTIVE, p.can_change_grant_status, "activate", "Activate"),
        Transition(
            "begin_closing",
            (G.ACTIVE,),
            G.CLOSING,
            p.can_change_grant_status,
            "begin closing",
            "Begin closing",
            confirm="Begin closing this grant? No new milestones can be added afterwards.",
        ),
        Transition(
            "close",
            (G.CLOSING,),
            G.CLOSED,
            p.can_change_grant_status,
            "close",
            "Close",
            guards=(_milestones_settled,),
            confirm="Close this grant for good?",
        ),
    ],
)


# --- investments ------------------------------------------------------------------------------------------------


def _investment_effects(investment: Investment, before: str, transition: Transition, by, reason: str) -> None:
    from apps.webhooks.services import webhook_emit

    webhook_emit(
        organization=investment.organization,
        event_type=WebhookEvent.INVESTMENT_STATUS_CHANGED,
        data={"investment_id": str(investment.pk), "title": investment.title, "from": before, "to": investment.status},
    )


INVESTMENTS = Machine(
    model=Investment,
    audit_action="investment.status_changed",
    effects=_investment_effects,
    transitions=[
        Transition("commit", (INV.PROPOSED,), INV.COMMITTED, p.can_change_investment_status, "commit", "Commit"),
        Transition("activate", (INV.COMMITTED,), INV.ACTIVE, p.can_change_investment_status, "activate", "Activate"),
        Transition(
            "close",
            (INV.ACTIVE,),
            INV.CLOSED,
            p.can_change_investment_status,
            "close",
            "Close",
            confirm="Close this investment for good?",
        ),
        Transition(
            "withdraw",
            (INV.PROPOSED, INV.COMMITTED),
            INV.WITHDRAWN,
            p.can_change_investment_status,
            "withdraw",
            "Withdraw",
            reason="required",
            confirm="Withdraw this investment? This cannot be undone.",
        ),
    ],
)


# --- milestones ---------------------------------------------------------------------------------------------------
# The escrow app holds some milestones' funds on chain. It plugs in through two settings lists, so funding never
# imports escrow: MILESTONE_LOCK_HOOKS name the rows to lock before the milestone (the agreement, the escrow
# milestone: the indexer's order) and MILESTONE_RELEASE_HOOKS take a release the approvals allowed (they queue
# the on-chain attestation in the same transaction and answer True: the chain's event releases the milestone).


def _hooks(name: str) -> list:
    return [import_string(path) for path in getattr(settings, name, [])]


def milestone_lock_first(milestone: Milestone) -> list:
    """The grant or investment first (a step's hooks may record a disbursement, which takes it), then what the
    hooks name (an escrowed milestone's agreement and escrow milestone), then the milestone: docs/controls.md."""
    parent = (Grant, milestone.grant_id) if milestone.grant_id else (Investment, milestone.investment_id)
    return [parent, *(row for hook in _hooks("MILESTONE_LOCK_HOOKS") for row in hook(milestone))]


def held_in_escrow(milestone: Milestone) -> bool:
    """Whether the escrow contract holds this milestone's funds (and pays it), unless the organization decided
    to pay it outside escrow."""
    return hasattr(milestone, "escrow") and not milestone.paid_outside_escrow


EVENT_FOR_STATUS = {
    M.SUBMITTED: WebhookEvent.MILESTONE_SUBMITTED,
    M.VERIFIED: WebhookEvent.MILESTONE_VERIFIED,
    M.RELEASED: WebhookEvent.MILESTONE_RELEASED,
    M.MISSED: WebhookEvent.MILESTONE_MISSED,
    M.DISPUTED: WebhookEvent.MILESTONE_DISPUTED,
}


def milestone_event_data(milestone: Milestone, *, previous: str) -> dict:
    return {
        "milestone_id": str(milestone.pk),
        "title": milestone.title,
        "amount": str(milestone.amount),
        "currency": milestone.currency,
        "due_date": milestone.due_date.isoformat(),
        "status": milestone.status,
        "previous_status": previous,
        "reason": milestone.status_reason,
        "grant_id": str(milestone.grant_id) if milestone.grant_id else None,
        "investment_id": str(milestone.investment_id) if milestone.investment_id else None,
    }


def _milestone_effects(milestone: Milestone, before: str, transition: Transition, by, reason: str) -> None:
    from apps.webhooks.services import webhook_emit

    if milestone.status in EVENT_FOR_STATUS:
        webhook_emit(
            organization=milestone.organization,
            event_type=EVENT_FOR_STATUS[milestone.status],
            data=milestone_event_data(milestone, previous=before),
        )


def _person(milestone: Milestone, by, params: dict) -> None:
    if by is None:
        raise PermissionDenied("A person must take this step; govtrack does not approve releases by itself.")


def _record_submitter(milestone: Milestone, by, params: dict) -> None:
    change_fields(params, milestone, {"submitted_by": by})


def _submitted_by_or_uploaded(milestone: Milestone, user) -> bool:
    if user is None or not getattr(user, "pk", None):
        return False
    return milestone.submitted_by_id == user.pk or any(e.uploaded_by_id == user.pk for e in milestone.evidence.all())


def _verifier_independent(milestone: Milestone, by, params: dict) -> None:
    if by is None or policy_for(milestone.organization).verifier_may_be_submitter:
        return
    if _submitted_by_or_uploaded(milestone, by):
        raise PermissionDenied(
            "You submitted this milestone or its evidence: another person must verify it (separation of duties)."
        )


def _criteria_met(milestone: Milestone, by, params: dict) -> None:
    unmet = [c for c in milestone.criteria.all() if c.status != "met"]
    if unmet:
        raise Conflict(
            "Cannot verify this milestone: criteria not met: " + "; ".join(c.description for c in unmet) + ".",
            {"unmet_criteria": [str(c.pk) for c in unmet]},
        )


def _record_verifier(milestone: Milestone, by, params: dict) -> None:
    change_fields(params, milestone, {"verified_by": by})


def release_approvals_missing(milestone: Milestone, approvals: list[MilestoneApproval], policy=None) -> list[str]:
    """What is still missing before the money may be released, in words (empty when it may)."""
    policy = policy or policy_for(milestone.organization)
    roles = {approval.role for approval in approvals}
    users = {approval.user_id for approval in approvals}
    if milestone.amount > policy.threshold_for(milestone.currency):
        needed = policy.release_roles()
        missing = [f"{'an' if role[0] in 'aeiou' else 'a'} {role} must approve" for role in needed if role not in roles]
        if not missing and len(users) < len(needed):
            missing.append("another person must approve (each approval from a different person)")
        return missing
    return [] if roles & p.RELEASE_APPROVERS else ["finance or an owner must approve"]


def release_status(milestone: Milestone, approvals: list[MilestoneApproval] | None = None) -> dict:
    """For the API and the dashboard: how many approvals there are, how many are needed and who must act next."""
    if approvals is None:
        approvals = list(milestone.approvals.filter(purpose=ApprovalPurpose.RELEASE).select_related("user"))
    policy = policy_for(milestone.organization)
    above = milestone.amount > policy.threshold_for(milestone.currency)
    needed = len(policy.release_roles()) if above else 1
    missing = release_approvals_missing(milestone, approvals, policy)
    summary = f"{len(approvals)} of {needed} approval{'s' if needed > 1 else ''} recorded"
    if not missing and milestone.release_authorized_at is not None:
        summary += ": the escrow contract's approvers attest it next (govtrack's signer, or a Safe's owners)"
    if missing:
        summary += ": " + "; ".join(missing) + " next"
    return {
        "approvals_recorded": len(approvals),
        "approvals_needed": needed,
        "missing": missing,
        "summary": summary + ".",
        "approvers": [{"user": a.user.username, "role": a.role, "at": a.created_at} for a in approvals],
    }


def _releaser_independent(milestone: Milestone, by, params: dict) -> None:
    if by is None:
        return
    policy = policy_for(milestone.organization)
    # The verifier's approval never releases alone: below the threshold it is refused; above it the verifier may give
    # one of the policy's role approvals, and the others come from different people.
    below = milestone.amount <= policy.threshold_for(milestone.currency)
    if not policy.releaser_may_be_verifier and milestone.verified_by_id == by.pk and below:
        raise PermissionDenied("You verified this milestone: a second person must approve its release.")
    if any(a.purpose == ApprovalPurpose.RELEASE and a.user_id == by.pk for a in milestone.approvals.all()):
        raise Conflict("You have already approved this release; another approver must approve it.")
    if milestone.release_authorized_at is not None:
        raise Conflict("The release of this milestone is already approved; it is being paid from escrow.")


def _record_release_approval(milestone: Milestone, by, params: dict) -> str:
    """Records one approval; releases when the policy is satisfied. Escrowed: queues the attestation instead."""
    from apps.audit.services import audit_record
    from apps.tenancy.permissions import role_of

    role = role_of(by, milestone.organization)
    note = params.get("note") or params.get("reason", "")  # the API's note, or what the dashboard's field said
    MilestoneApproval.objects.create(
        milestone=milestone, purpose=ApprovalPurpose.RELEASE, user=by, role=role, note=note
    )
    approvals = list(milestone.approvals.filter(purpose=ApprovalPurpose.RELEASE))
    missing = release_approvals_missing(milestone, approvals)
    audit_record(
        action="milestone.release_approved",
        actor=by,
        organization=milestone.organization,
        obj=milestone,
        after={"role": role, "note": note, "missing": missing},
    )
    if missing:
        return milestone.status
    if held_in_escrow(milestone):
        milestone.release_authorized_at = _now()
        milestone.save(update_fields=["release_authorized_at", "updated_at"])
        for hook in _hooks("MILESTONE_RELEASE_HOOKS"):
            hook(milestone=milestone, by=by)
        return milestone.status  # the chain's MilestoneApproved event releases it
    return M.RELEASED


def _now():
    from django.utils import timezone

    return timezone.now()


def _not_in_escrow(verb: str, where: str):
    def guard(milestone: Milestone, by, params: dict) -> None:
        if held_in_escrow(milestone):
            raise Conflict(f"This milestone's funds are held in the escrow contract: {where}")

    guard.__name__ = f"not_in_escrow_{verb}"
    return guard


def _lapse_release_approvals(milestone: Milestone, by, params: dict) -> None:
    """Returned for changes: the release approvals given so far lapse (named in the audit event), so the next
    verification is approved afresh."""
    approvals = milestone.approvals.filter(purpose=ApprovalPurpose.RELEASE)
    lapsed = [f"{username} ({role})" for username, role in approvals.values_list("user__username", "role")]
    if lapsed:
        approvals.delete()
        params.setdefault("_audit_after", {})["release_approvals_lapsed"] = lapsed


def _release_not_authorized(milestone: Milestone, by, params: dict) -> None:
    if milestone.release_authorized_at is not None:
        raise Conflict("The release of this milestone is approved and being paid from escrow; it can be contested.")


def _pay_outside_escrow_guard(milestone: Milestone, by, params: dict) -> None:
    if not hasattr(milestone, "escrow") or milestone.paid_outside_escrow:
        raise Conflict("Only a milestone held in escrow can be moved to a payment outside escrow.")
    if milestone.escrow.onchain_status not in ("none", "pending"):
        raise Conflict(
            f"The contract has already {milestone.escrow.get_onchain_status_display().lower()} this milestone."
        )


def _record_outside_escrow(milestone: Milestone, by, params: dict) -> str:
    """Owner and finance together: the first approval is recorded, the second moves the milestone out of escrow."""
    from apps.audit.services import audit_record
    from apps.tenancy.permissions import role_of

    role = role_of(by, milestone.organization)
    earlier = milestone.approvals.filter(purpose=ApprovalPurpose.OUTSIDE_ESCROW)
    if earlier.filter(user=by).exists():
        raise Conflict("You have already approved paying this milestone outside escrow; the other role must approve.")
    MilestoneApproval.objects.create(
        milestone=milestone, purpose=ApprovalPurpose.OUTSIDE_ESCROW, user=by, role=role, note=params.get("reason", "")
    )
    roles = set(earlier.values_list("role", flat=True)) | {role}
    audit_record(
        action="milestone.outside_escrow_approved",
        actor=by,
        organization=milestone.organization,
        obj=milestone,
        after={"role": role, "reason": params.get("reason", "")},
    )
    if not {"owner", "finance"} <= roles:
        return milestone.status
    change_fields(params, milestone, {"paid_outside_escrow": True})
    return M.RELEASED


def _approved_on_chain(milestone: Milestone, by, params: dict) -> None:
    if not hasattr(milestone, "escrow") or milestone.escrow.onchain_status != "approved":
        raise Conflict(
            "Only a milestone the escrow contract approved can be accepted as released; this one is not approved "
            "on chain."
        )


def _record_conflict_accepted(milestone: Milestone, by, params: dict) -> None:
    """Names, in the audit event, the hash the contract approved (the one govtrack accepts instead of its own)."""
    escrow = milestone.escrow
    params.setdefault("_audit_after", {}).update(
        {"accepted_onchain_hash": escrow.onchain_evidence_hash, "govtrack_hash": escrow.evidence_hash}
    )


def _dispute_target(milestone: Milestone, by, params: dict) -> str:
    targets = {"resubmit": M.SUBMITTED, "missed": M.MISSED}
    outcome = params.get("outcome")
    if outcome not in targets:
        raise ValidationFailed.for_field("outcome", "Choose 'resubmit' or 'missed'.")
    return targets[outcome]


def _reopen_target(milestone: Milestone, by, params: dict) -> str:
    to = params.get("to")
    if to not in M.values or to in (M.RELEASED, M.REFUNDED):
        raise ValidationFailed.for_field("to", f"'{to}' is not a status a milestone returns to.")
    return to


MILESTONE_OPEN = tuple(OPEN_MILESTONE_STATUSES)
ESCROW_SETTLES_FROM = (*MILESTONE_OPEN, M.VERIFIED, M.DISPUTED, M.MISSED)

MILESTONES = Machine(
    model=Milestone,
    audit_action="milestone.status_changed",
    lock_first=milestone_lock_first,
    effects=_milestone_effects,
    transitions=[
        Transition("start", (M.PLANNED,), M.IN_PROGRESS, p.can_work_on_milestone, "start", "Start work"),
        Transition(
            "submit",
            (M.PLANNED, M.IN_PROGRESS),
            M.SUBMITTED,
            p.can_work_on_milestone,
            "submit",
            "Submit for verification",
            stamp="submitted_at",
            record=_record_submitter,
        ),
        Transition(
            "return_for_changes",
            (M.SUBMITTED, M.VERIFIED),
            M.IN_PROGRESS,
            p.can_verify_milestone,
            "return for changes",
            "Return for changes",
            reason="required",
            guards=(_release_not_authorized,),
            record=_lapse_release_approvals,
        ),
        Transition(
            "verify",
            (M.SUBMITTED,),
            M.VERIFIED,
            p.can_verify_milestone,
            "verify",
            "Verify",
            guards=(_verifier_independent, _criteria_met),
            record=_record_verifier,
            stamp="verified_at",
        ),
        Transition(
            "approve_release",
            (M.VERIFIED,),
            M.RELEASED,
            p.can_approve_release,
            "approve the release of",
            "Approve release",
            guards=(_person, _releaser_independent),
            record=_record_release_approval,
            stamp="released_at",
            confirm="Approve the release of this milestone's funds?",
        ),
        Transition(
            "pay_outside_escrow",
            (M.VERIFIED,),
            M.RELEASED,
            p.can_pay_outside_escrow,
            "pay outside escrow",
            "Pay outside escrow",
            reason="required",
            guards=(_person, _pay_outside_escrow_guard),
            record=_record_outside_escrow,
            stamp="released_at",
            confirm="Pay this milestone outside the escrow contract? The owner and finance must both approve.",
        ),
        Transition(
            "dispute",
            (M.SUBMITTED, M.VERIFIED),
            M.DISPUTED,
            p.can_dispute_milestone,
            "contest",
            "Contest",
            reason="required",
        ),
        Transition(
            "resolve_dispute",
            (M.DISPUTED,),
            M.SUBMITTED,
            p.can_verify_milestone,
            "resolve the dispute of",
            "Resolve dispute",
            record=_dispute_target,
        ),
        Transition(
            "mark_missed",
            (*MILESTONE_OPEN, M.DISPUTED),
            M.MISSED,
            p.can_verify_milestone,
            "mark as missed",
            "Mark missed",
            confirm="Record this milestone as missed?",
        ),
        Transition(
            "refund",
            (M.MISSED,),
            M.REFUNDED,
            p.can_verify_milestone,
            "refund",
            "Record refund",
            guards=(
                _not_in_escrow(
                    "refund",
                    "its refund happens on chain (POST /api/escrow/milestones/{id}/refund/), and the chain's event "
                    "marks it refunded.",
                ),
            ),
        ),
        # The way out of `conflict`: the contract approved the milestone with a hash that is not govtrack's report,
        # so its amount is already the beneficiary's to withdraw and no attestation, refund or payment outside
        # escrow can follow. The owner, having looked, accepts the chain's approval as the release (with the reason
        # on the record); what was withdrawn meanwhile is then recorded as disbursements (MILESTONE_CONFLICT_HOOKS).
        Transition(
            "resolve_conflict",
            (M.CONFLICT,),
            M.RELEASED,
            p.can_resolve_conflict,
            "accept the chain's approval of",
            "Accept the chain's approval",
            reason="required",
            guards=(_person, _approved_on_chain),
            record=_record_conflict_accepted,
            stamp="released_at",
            confirm="Accept the escrow contract's approval and record this milestone as released? The hash it "
            "approved stays on the record beside govtrack's own; this cannot be undone.",
        ),
        # The escrow indexer, on a confirmed contract event (govtrack itself, never a person).
        Transition(
            "release_from_chain",
            ESCROW_SETTLES_FROM,
            M.RELEASED,
            None,
            "release (approved on chain)",
            "Released on chain",
            system=True,
            stamp="released_at",
        ),
        Transition(
            "refund_from_chain",
            (*ESCROW_SETTLES_FROM, M.CONFLICT),
            M.REFUNDED,
            None,
            "refund (refunded on chain)",
            "Refunded on chain",
            system=True,
        ),
        # An approver attested a hash that is not govtrack's report (or govtrack has none yet): held for a person.
        Transition(
            "conflict_from_chain",
            ESCROW_SETTLES_FROM,
            M.CONFLICT,
            None,
            "hold (the chain was attested with another evidence hash)",
            "Conflict on chain",
            system=True,
            reason="required",
        ),
        Transition(
            "reopen_from_chain",
            (M.RELEASED, M.REFUNDED, M.CONFLICT),
            M.VERIFIED,
            None,
            "reopen (its on-chain event was removed by a reorg)",
            "Reopened after a reorg",
            system=True,
            record=_reopen_target,
        ),
    ],
)
