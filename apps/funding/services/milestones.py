"""Milestones: creation within the parent's budget and period, criteria, evidence, and the status machine

planned → in_progress → submitted → verified → released
                              ↘ disputed ↗ (back to submitted)     any open state → missed → refunded
"""

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.core.states import require_state
from apps.core.uploads import evidence_check
from apps.funding import permissions
from apps.funding.models import (
    OPEN_MILESTONE_STATUSES,
    ApprovalPurpose,
    CriterionKind,
    CriterionStatus,
    Evidence,
    Grant,
    GrantStatus,
    Investment,
    InvestmentStatus,
    Milestone,
    MilestoneApproval,
    MilestoneCriterion,
    MilestoneStatus,
)
from apps.funding.services.common import check, clean_date, clean_text, held_in_escrow
from apps.funding.services.kpis import kpi_config_clean, kpi_evaluate
from apps.tenancy.models import Role
from apps.tenancy.permissions import role_of
from apps.webhooks.models import WebhookEvent
from apps.webhooks.services import webhook_emit

MILESTONE_FIELDS = ["title", "description", "amount", "due_date", "owner"]
CLOSED_GRANT_STATUSES = {GrantStatus.REJECTED, GrantStatus.CLOSED}
CLOSED_INVESTMENT_STATUSES = {InvestmentStatus.CLOSED, InvestmentStatus.WITHDRAWN}


def _budget_check(parent: Grant | Investment, amount: Decimal, *, excluding: Milestone | None = None) -> None:
    planned = parent.milestones.exclude(pk=getattr(excluding, "pk", None)).aggregate(total=Sum("amount"))["total"]
    planned = planned or Decimal(0)
    budget = parent.budget
    if planned + amount > budget:
        raise ValidationFailed.for_field(
            "amount",
            f"Milestones would total {planned + amount} {parent.currency}, more than the "
            f"{'award' if isinstance(parent, Grant) and parent.amount_awarded is not None else 'budget'} "
            f"of {budget} {parent.currency} ({planned} already planned).",
        )


def _due_date_check(parent, due_date) -> None:
    if isinstance(parent, Grant) and not parent.period_start <= due_date <= parent.period_end:
        raise ValidationFailed.for_field(
            "due_date", f"Due dates must fall within the grant period {parent.period_start} to {parent.period_end}."
        )


def milestone_create(
    *,
    parent: Grant | Investment,
    by,
    title: str,
    amount,
    due_date,
    description: str = "",
    owner=None,
    currency: str | None = None,
) -> Milestone:
    organization = parent.organization
    check(permissions.can_manage_funding, by, organization)
    closed = CLOSED_GRANT_STATUSES if isinstance(parent, Grant) else CLOSED_INVESTMENT_STATUSES
    if parent.status in closed:
        raise Conflict(
            f"Cannot add a milestone to a {parent.get_status_display().lower()} {parent._meta.verbose_name}."
        )
    amount = clean_amount(amount, field="amount")
    currency = clean_currency(currency or parent.currency)
    if currency != parent.currency:
        raise ValidationFailed.for_field(
            "currency", f"Milestones are in the {parent._meta.verbose_name}'s currency, {parent.currency}."
        )
    due = clean_date(due_date, field="due_date")
    _due_date_check(parent, due)
    with transaction.atomic():
        # Lock the parent so two milestones created at once cannot together exceed the budget.
        parent = type(parent).objects.select_for_update().get(pk=parent.pk)
        _budget_check(parent, amount)
        milestone = Milestone.objects.create(
            organization=organization,
            grant=parent if isinstance(parent, Grant) else None,
            investment=parent if isinstance(parent, Investment) else None,
            title=clean_text(title, field="title"),
            description=description,
            amount=amount,
            currency=currency,
            due_date=due,
            owner=owner or by,
        )
        audit_record(
            action="milestone.created",
            actor=by,
            organization=organization,
            obj=milestone,
            after={**snapshot(milestone, MILESTONE_FIELDS), "currency": currency, "parent": str(parent.pk)},
        )
    return milestone


def milestone_update(*, milestone: Milestone, by, **changes) -> Milestone:
    check(permissions.can_manage_funding, by, milestone.organization)
    require_state(milestone, [MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS], "edit")
    parent = milestone.parent
    if "title" in changes:
        changes["title"] = clean_text(changes["title"], field="title")
    if "amount" in changes:
        changes["amount"] = clean_amount(changes["amount"], field="amount")
    if "due_date" in changes:
        changes["due_date"] = clean_date(changes["due_date"], field="due_date")
        _due_date_check(parent, changes["due_date"])
    with transaction.atomic():
        type(parent).objects.select_for_update().get(pk=parent.pk)
        milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
        if "amount" in changes:
            _budget_check(parent, changes["amount"], excluding=milestone)
        before = snapshot(milestone, MILESTONE_FIELDS)
        for field, value in changes.items():
            if field in MILESTONE_FIELDS:
                setattr(milestone, field, value)
        milestone.save(update_fields=[*MILESTONE_FIELDS, "updated_at"])
        old, new = changed_fields(before, snapshot(milestone, MILESTONE_FIELDS))
        audit_record(
            action="milestone.updated",
            actor=by,
            organization=milestone.organization,
            obj=milestone,
            before=old,
            after=new,
        )
    return milestone


# --- criteria -------------------------------------------------------------------------------------------


def _clean_criterion_config(kind: str, config: dict) -> dict:
    if kind == CriterionKind.KPI:
        return kpi_config_clean(config)
    if kind == CriterionKind.MANUAL:
        roles = (config or {}).get("approver_roles") or [Role.OWNER]
        if not isinstance(roles, list) or any(role not in Role.values for role in roles):
            raise ValidationFailed.for_field(
                "config.approver_roles", f"A list of roles from: {', '.join(Role.values)}."
            )
        return {"approver_roles": sorted(set(roles))}
    if kind == CriterionKind.COMPUTE:
        validator = getattr(settings, "COMPUTE_CRITERION_VALIDATOR", "")
        # The compute app validates its own parameters; without it the config is kept as given.
        return import_string(validator)(config) if validator else dict(config or {})
    raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(CriterionKind.values)}.")


def criterion_add(
    *, milestone: Milestone, by, kind: str, description: str, config: dict | None = None
) -> MilestoneCriterion:
    check(permissions.can_manage_funding, by, milestone.organization)
    require_state(milestone, [MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS], "add criteria to")
    config = _clean_criterion_config(kind, config or {})
    with transaction.atomic():
        criterion = MilestoneCriterion.objects.create(
            milestone=milestone,
            kind=kind,
            description=clean_text(description, field="description", max_length=500),
            config=config,
        )
        audit_record(
            action="milestone.criterion_added",
            actor=by,
            organization=milestone.organization,
            obj=criterion,
            after={"milestone": str(milestone.pk), "kind": kind, "config": config},
        )
    return criterion


def criterion_record_result(
    *, criterion: MilestoneCriterion, passed: bool, result: dict, by=None
) -> MilestoneCriterion:
    """Stores an evaluation (the compute app's verification, a KPI check) on the criterion."""
    with transaction.atomic():
        criterion = MilestoneCriterion.objects.select_for_update().select_related("milestone").get(pk=criterion.pk)
        before = criterion.status
        criterion.status = CriterionStatus.MET if passed else CriterionStatus.NOT_MET
        criterion.last_evaluated_at, criterion.last_result = timezone.now(), result
        criterion.save(update_fields=["status", "last_evaluated_at", "last_result", "updated_at"])
        if before != criterion.status:
            audit_record(
                action="milestone.criterion_evaluated",
                actor=by,
                organization=criterion.milestone.organization,
                obj=criterion,
                before={"status": before},
                after={"status": criterion.status},
            )
    return criterion


def criterion_approve(*, criterion: MilestoneCriterion, by, note: str = "") -> MilestoneCriterion:
    """A named role's approval of a manual criterion; met once every listed role has approved."""
    milestone = criterion.milestone
    if criterion.kind != CriterionKind.MANUAL:
        raise Conflict("Only manual criteria are approved by people; the others are evaluated from data.")
    roles = criterion.config.get("approver_roles", [Role.OWNER])
    check(permissions.can_approve_criterion, by, milestone.organization, roles)
    require_state(milestone, [MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED], "approve criteria of")
    try:
        with transaction.atomic():
            MilestoneApproval.objects.create(
                milestone=milestone,
                criterion=criterion,
                purpose=ApprovalPurpose.CRITERION,
                user=by,
                role=role_of(by, milestone.organization),
                note=note,
            )
            audit_record(
                action="milestone.criterion_approved",
                actor=by,
                organization=milestone.organization,
                obj=criterion,
                after={"role": role_of(by, milestone.organization), "note": note},
            )
    except IntegrityError:
        raise Conflict("You have already approved this criterion.") from None
    approved_roles = set(criterion.approvals.values_list("role", flat=True))
    met = set(roles) <= approved_roles
    return criterion_record_result(
        criterion=criterion,
        passed=met,
        by=by,
        result={"approved_roles": sorted(approved_roles), "required_roles": roles},
    )


def milestone_criteria_evaluate(*, milestone: Milestone, by=None) -> list[MilestoneCriterion]:
    """Evaluates the KPI criteria now; returns the criteria that are not met (compute and manual as recorded)."""
    unmet = []
    for criterion in milestone.criteria.all():
        if criterion.kind == CriterionKind.KPI:
            result = kpi_evaluate(organization=milestone.organization, config=criterion.config)
            criterion = criterion_record_result(criterion=criterion, passed=result["passed"], result=result, by=by)
        if criterion.status != CriterionStatus.MET:
            unmet.append(criterion)
    return unmet


# --- evidence -------------------------------------------------------------------------------------------


def evidence_add(*, milestone: Milestone, by, upload, description: str = "") -> Evidence:
    check(permissions.can_work_on_milestone, by, milestone.organization)
    require_state(
        milestone,
        [MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, MilestoneStatus.DISPUTED],
        "add evidence to",
    )
    checked = evidence_check(upload)
    evidence = Evidence(
        milestone=milestone,
        original_name=checked.original_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        description=description[:500],
        uploaded_by=by,
    )
    with transaction.atomic():
        # The file is written before the row; if the row fails, the file is removed again.
        evidence.file.save(evidence.id.hex, upload, save=False)
        try:
            evidence.save(force_insert=True)
            audit_record(
                action="milestone.evidence_added",
                actor=by,
                organization=milestone.organization,
                obj=milestone,
                after={"file": evidence.original_name, "sha256": evidence.sha256, "size": evidence.size},
            )
        except Exception:
            evidence.file.delete(save=False)
            raise
    return evidence


# --- status machine -----------------------------------------------------------------------------------------

EVENT_FOR_STATUS = {
    MilestoneStatus.SUBMITTED: WebhookEvent.MILESTONE_SUBMITTED,
    MilestoneStatus.VERIFIED: WebhookEvent.MILESTONE_VERIFIED,
    MilestoneStatus.RELEASED: WebhookEvent.MILESTONE_RELEASED,
    MilestoneStatus.MISSED: WebhookEvent.MILESTONE_MISSED,
    MilestoneStatus.DISPUTED: WebhookEvent.MILESTONE_DISPUTED,
}
TIMESTAMP_FOR_STATUS = {
    MilestoneStatus.SUBMITTED: "submitted_at",
    MilestoneStatus.VERIFIED: "verified_at",
    MilestoneStatus.RELEASED: "released_at",
}


def _transition(
    *, milestone: Milestone, by, to: str, allowed_from, action: str, decision, reason: str = "", guard=None
) -> Milestone:
    check(decision, by, milestone.organization)
    with transaction.atomic():
        milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
        require_state(milestone, allowed_from, action)
        if guard is not None:
            guard(milestone)
        before = milestone.status
        milestone.status, milestone.status_reason = to, reason
        fields = ["status", "status_reason", "updated_at"]
        if to in TIMESTAMP_FOR_STATUS:
            setattr(milestone, TIMESTAMP_FOR_STATUS[to], timezone.now())
            fields.append(TIMESTAMP_FOR_STATUS[to])
        milestone.save(update_fields=fields)
        after = {"status": to, "reason": reason} if reason else {"status": to}
        audit_record(
            action="milestone.status_changed",
            actor=by,
            organization=milestone.organization,
            obj=milestone,
            before={"status": before},
            after=after,
        )
        if to in EVENT_FOR_STATUS:
            webhook_emit(
                organization=milestone.organization,
                event_type=EVENT_FOR_STATUS[to],
                data=milestone_event_data(milestone, previous=before),
            )
    return milestone


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


def milestone_start(*, milestone: Milestone, by) -> Milestone:
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.IN_PROGRESS,
        allowed_from=[MilestoneStatus.PLANNED],
        action="start",
        decision=permissions.can_work_on_milestone,
    )


def milestone_submit(*, milestone: Milestone, by, note: str = "") -> Milestone:
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.SUBMITTED,
        allowed_from=[MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS],
        action="submit",
        decision=permissions.can_work_on_milestone,
        reason=note,
    )


def milestone_verify(*, milestone: Milestone, by=None) -> Milestone:
    """Verified when every criterion is met (KPI criteria are evaluated now). `by=None`: verified by govtrack."""
    check(permissions.can_verify_milestone, by, milestone.organization)
    milestone = Milestone.objects.select_related("organization").get(pk=milestone.pk)
    require_state(milestone, [MilestoneStatus.SUBMITTED], "verify")
    unmet = milestone_criteria_evaluate(milestone=milestone, by=by)
    if unmet:
        raise Conflict(
            "Cannot verify this milestone: criteria not met: " + "; ".join(c.description for c in unmet) + ".",
            {"unmet_criteria": [str(c.pk) for c in unmet]},
        )
    milestone = _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.VERIFIED,
        allowed_from=[MilestoneStatus.SUBMITTED],
        action="verify",
        decision=permissions.can_verify_milestone,
    )
    for hook in getattr(settings, "MILESTONE_VERIFIED_HOOKS", []):
        import_string(hook)(milestone=milestone, by=by)
    return milestone


def release_approvals_needed(milestone: Milestone, approvals: list[MilestoneApproval]) -> list[str]:
    """What is still missing before the money may be released (empty when it may)."""
    roles = {approval.role for approval in approvals}
    users = {approval.user_id for approval in approvals}
    if milestone.amount > settings.MILESTONE_DUAL_APPROVAL_ABOVE:
        missing = [f"an approval by a {role}" for role in (Role.FINANCE, Role.OWNER) if role not in roles]
        if not missing and len(users) < 2:
            missing.append("a second approver (two different people)")
        return missing
    return [] if roles & {Role.FINANCE, Role.OWNER} else ["an approval by finance or an owner"]


def milestone_approve_release(*, milestone: Milestone, by, note: str = "") -> Milestone:
    """Records one release approval; the milestone is released once the approvals suffice.

    Up to MILESTONE_DUAL_APPROVAL_ABOVE (in the milestone's currency) one approval by finance or an owner
    releases; above it, two different people must approve, one with the finance role and one owner.
    """
    check(permissions.can_approve_release, by, milestone.organization)
    with transaction.atomic():
        milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
        require_state(milestone, [MilestoneStatus.VERIFIED], "approve the release of")
        if held_in_escrow(milestone):
            raise Conflict(
                "This milestone's funds are held in the escrow contract: they are released on chain when the "
                "milestone is attested (queued when it was verified), not by an approval here."
            )
        role = role_of(by, milestone.organization)
        if milestone.approvals.filter(purpose=ApprovalPurpose.RELEASE, user=by).exists():
            raise Conflict("You have already approved this release; another approver must approve it.")
        MilestoneApproval.objects.create(
            milestone=milestone, purpose=ApprovalPurpose.RELEASE, user=by, role=role, note=note
        )
        audit_record(
            action="milestone.release_approved",
            actor=by,
            organization=milestone.organization,
            obj=milestone,
            after={"role": role, "note": note},
        )
        missing = release_approvals_needed(milestone, list(milestone.approvals.filter(purpose=ApprovalPurpose.RELEASE)))
        if missing:
            return milestone
        return _transition(
            milestone=milestone,
            by=by,
            to=MilestoneStatus.RELEASED,
            allowed_from=[MilestoneStatus.VERIFIED],
            action="release",
            decision=permissions.can_approve_release,
        )


def milestone_dispute(*, milestone: Milestone, by, reason: str) -> Milestone:
    reason = clean_text(reason, field="reason", max_length=2000)
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.DISPUTED,
        allowed_from=[MilestoneStatus.SUBMITTED, MilestoneStatus.VERIFIED],
        action="contest",
        decision=permissions.can_dispute_milestone,
        reason=reason,
    )


def milestone_resolve_dispute(*, milestone: Milestone, by, outcome: str, note: str = "") -> Milestone:
    """A contested milestone goes back to review (resubmit) or is recorded as missed."""
    targets = {"resubmit": MilestoneStatus.SUBMITTED, "missed": MilestoneStatus.MISSED}
    if outcome not in targets:
        raise ValidationFailed.for_field("outcome", "Choose 'resubmit' or 'missed'.")
    return _transition(
        milestone=milestone,
        by=by,
        to=targets[outcome],
        allowed_from=[MilestoneStatus.DISPUTED],
        action="resolve the dispute of",
        decision=permissions.can_verify_milestone,
        reason=note,
    )


def milestone_mark_missed(*, milestone: Milestone, by, reason: str = "") -> Milestone:
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.MISSED,
        allowed_from=[*OPEN_MILESTONE_STATUSES, MilestoneStatus.DISPUTED],
        action="mark as missed",
        decision=permissions.can_verify_milestone,
        reason=reason,
    )


def milestone_refund(*, milestone: Milestone, by, reason: str = "") -> Milestone:
    if held_in_escrow(milestone):
        raise Conflict(
            "This milestone's funds are held in the escrow contract: its refund happens on chain "
            "(POST /api/escrow/milestones/{id}/refund/), and the chain's event marks it refunded."
        )
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.REFUNDED,
        allowed_from=[MilestoneStatus.MISSED],
        action="refund",
        decision=permissions.can_verify_milestone,
        reason=reason,
    )


# --- transitions the escrow contract decides ------------------------------------------------------------------
# The escrow app's indexer calls these when a confirmed contract event says what happened (`by=None`: govtrack,
# on the chain's word), and the reverse ones when a reorg removed that event.

ESCROW_RELEASABLE_FROM = [
    *OPEN_MILESTONE_STATUSES,
    MilestoneStatus.VERIFIED,
    MilestoneStatus.DISPUTED,
    MilestoneStatus.MISSED,
]


def milestone_release_from_chain(*, milestone: Milestone, tx_hash: str, by=None) -> Milestone:
    """MilestoneApproved was confirmed: the contract made the amount withdrawable by the beneficiary."""
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.RELEASED,
        allowed_from=ESCROW_RELEASABLE_FROM,
        action="release (approved on chain)",
        decision=permissions.can_approve_release,
        reason=f"Approved by the escrow contract in transaction {tx_hash}.",
    )


def milestone_refund_from_chain(*, milestone: Milestone, tx_hash: str, by=None) -> Milestone:
    """MilestoneRefunded was confirmed: the contract credited the amount back to the funder."""
    return _transition(
        milestone=milestone,
        by=by,
        to=MilestoneStatus.REFUNDED,
        allowed_from=ESCROW_RELEASABLE_FROM,
        action="refund (refunded on chain)",
        decision=permissions.can_verify_milestone,
        reason=f"Refunded by the escrow contract in transaction {tx_hash}.",
    )


def milestone_reopen_from_chain(*, milestone: Milestone, to: str, reason: str, by=None) -> Milestone:
    """A reorg removed the event that released or refunded the milestone: back to the status it had before."""
    if to not in MilestoneStatus.values or to in (MilestoneStatus.RELEASED, MilestoneStatus.REFUNDED):
        raise ValidationFailed.for_field("to", f"'{to}' is not a status a milestone returns to.")
    return _transition(
        milestone=milestone,
        by=by,
        to=to,
        allowed_from=[MilestoneStatus.RELEASED, MilestoneStatus.REFUNDED],
        action="reopen (its on-chain event was removed by a reorg)",
        decision=permissions.can_verify_milestone,
        reason=reason,
    )
