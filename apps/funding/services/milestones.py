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
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.core.states import require_state
from apps.core.uploads import evidence_check
from apps.funding import permissions
from apps.funding.machines import MILESTONES, held_in_escrow
from apps.funding.models import (
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
from apps.funding.services.common import check, clean_date, clean_text
from apps.funding.services.kpis import kpi_config_clean, kpi_evaluate
from apps.tenancy.models import Role
from apps.tenancy.permissions import role_of

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


AMENDABLE_STATUSES = [
    MilestoneStatus.PLANNED,
    MilestoneStatus.IN_PROGRESS,
    MilestoneStatus.SUBMITTED,
    MilestoneStatus.DISPUTED,
]


def milestone_update(*, milestone: Milestone, by, **changes) -> Milestone:
    """Amends the planned fields of a milestone not yet verified, with before/after in the audit trail and the
    budget and period re-checked. An escrowed milestone's amount and due date are the contract's: refused."""
    check(permissions.can_manage_funding, by, milestone.organization)
    require_state(milestone, AMENDABLE_STATUSES, "amend")
    if held_in_escrow(milestone) and {"amount", "due_date"} & set(changes):
        raise Conflict("This milestone's amount and deadline are held in the escrow contract and cannot change.")
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


def _clean_criterion_config(kind: str, config: dict, milestone: Milestone) -> dict:
    from apps.funding.services.conditions import compliance_config_clean, report_approved_config_clean

    if kind == CriterionKind.REPORT_APPROVED:
        return report_approved_config_clean(config, milestone=milestone)
    if kind == CriterionKind.COMPLIANCE:
        return compliance_config_clean(config)
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
    config = _clean_criterion_config(kind, config or {}, milestone)
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
    if milestone.submitted_by_id is not None and milestone.submitted_by_id == by.pk:
        raise PermissionDenied(
            "You submitted this milestone: another person must approve its criteria (separation of duties)."
        )
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
    """Evaluates the KPI criteria and the report and compliance conditions now; returns the criteria that are not
    met (compute and manual as recorded)."""
    from apps.funding.services.conditions import condition_evaluate

    unmet = []
    for criterion in milestone.criteria.select_related("milestone__organization"):
        if criterion.kind == CriterionKind.KPI:
            result = kpi_evaluate(organization=milestone.organization, config=criterion.config)
            criterion = criterion_record_result(criterion=criterion, passed=result["passed"], result=result, by=by)
        elif criterion.kind in (CriterionKind.REPORT_APPROVED, CriterionKind.COMPLIANCE):
            condition_evaluate(criterion=criterion, by=by)
            criterion.refresh_from_db(fields=["status"])
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


# --- status machine: every transition runs through apps.funding.machines.MILESTONES -----------------------------


def milestone_start(*, milestone: Milestone, by) -> Milestone:
    return MILESTONES.run(milestone, "start", by=by)


def milestone_submit(*, milestone: Milestone, by, note: str = "") -> Milestone:
    return MILESTONES.run(milestone, "submit", by=by, reason=note)


def milestone_return_for_changes(*, milestone: Milestone, by, reason: str) -> Milestone:
    """Back to in progress with a reason the submitter reads (status_reason); release approvals given so far lapse
    (named in the audit event)."""
    return MILESTONES.run(milestone, "return_for_changes", by=by, reason=reason)


def milestone_verify(*, milestone: Milestone, by=None) -> Milestone:
    """Verified when every criterion is met (KPI criteria are evaluated now). `by=None`: verified by govtrack.

    The verifier may not be whoever submitted the milestone or its evidence (the organization's policy)."""
    check(permissions.can_verify_milestone, by, milestone.organization)
    require_state(milestone, MILESTONES.states_for("verify"), "verify")
    milestone_criteria_evaluate(milestone=milestone, by=by)
    return MILESTONES.run(milestone, "verify", by=by)


def milestone_approve_release(*, milestone: Milestone, by, note: str = "") -> Milestone:
    """Records one release approval; the milestone is released once the organization's policy is satisfied.

    Up to the policy's threshold (per currency) one approval by finance or an owner releases; above it, one
    approval from each of the policy's roles (finance and owner by default), each by a different person. Nobody
    who verified, submitted or uploaded evidence for the milestone may approve its release. A milestone held in
    escrow is not released here: the approvals that suffice queue its on-chain attestation, and the contract's
    MilestoneApproved event releases it.
    """
    return MILESTONES.run(milestone, "approve_release", by=by, note=note)


def milestone_pay_outside_escrow(*, milestone: Milestone, by, reason: str) -> Milestone:
    """A way forward for an escrowed milestone the chain cannot pay (failed agreement, paused contract): the owner
    and finance together decide to pay it outside escrow; it is released here and paid like any other."""
    return MILESTONES.run(milestone, "pay_outside_escrow", by=by, reason=reason)


def milestone_dispute(*, milestone: Milestone, by, reason: str) -> Milestone:
    return MILESTONES.run(milestone, "dispute", by=by, reason=reason)


def milestone_resolve_dispute(*, milestone: Milestone, by, outcome: str, note: str = "") -> Milestone:
    """A contested milestone goes back to review (resubmit) or is recorded as missed."""
    return MILESTONES.run(milestone, "resolve_dispute", by=by, reason=note, outcome=outcome)


def milestone_mark_missed(*, milestone: Milestone, by, reason: str = "") -> Milestone:
    return MILESTONES.run(milestone, "mark_missed", by=by, reason=reason)


def milestone_refund(*, milestone: Milestone, by, reason: str = "") -> Milestone:
    return MILESTONES.run(milestone, "refund", by=by, reason=reason)


def milestone_resolve_conflict(*, milestone: Milestone, by, reason: str) -> Milestone:
    """The owner accepts the escrow contract's approval of a milestone held in conflict: released, with the reason
    and both hashes in the audit event. What the beneficiary withdrew meanwhile is recorded as disbursements in the
    same transaction (MILESTONE_CONFLICT_HOOKS, the escrow app's), so the totals say what the chain paid."""
    with transaction.atomic():
        # The machine locks the grant or investment (whose totals the disbursements move), the escrow rows and the
        # milestone, in that order (milestone_lock_first); the hooks only touch rows this transaction already holds.
        milestone = MILESTONES.run(milestone, "resolve_conflict", by=by, reason=reason)
        for hook in (import_string(path) for path in getattr(settings, "MILESTONE_CONFLICT_HOOKS", [])):
            hook(milestone=milestone, by=by)
        milestone.refresh_from_db(fields=["amount_disbursed"])
    return milestone


# --- transitions the escrow contract decides ------------------------------------------------------------------
# The escrow app's indexer calls these when a confirmed contract event says what happened (govtrack, on the
# chain's word), and the reverse one when a reorg removed that event.


def milestone_release_from_chain(*, milestone: Milestone, tx_hash: str, by=None) -> Milestone:
    """MilestoneApproved was confirmed: the contract made the amount withdrawable by the beneficiary."""
    return MILESTONES.run(
        milestone, "release_from_chain", by=None, reason=f"Approved by the escrow contract in transaction {tx_hash}."
    )


def milestone_refund_from_chain(*, milestone: Milestone, tx_hash: str, by=None) -> Milestone:
    """MilestoneRefunded was confirmed: the contract credited the amount back to the funder."""
    return MILESTONES.run(
        milestone, "refund_from_chain", by=None, reason=f"Refunded by the escrow contract in transaction {tx_hash}."
    )


def milestone_conflict_from_chain(*, milestone: Milestone, reason: str, by=None) -> Milestone:
    """A confirmed Attested (or MilestoneApproved) carries a hash that is not govtrack's report: the milestone is
    held in conflict for a person, never released by that event."""
    return MILESTONES.run(milestone, "conflict_from_chain", by=None, reason=reason)


def milestone_reopen_from_chain(*, milestone: Milestone, to: str, reason: str, by=None) -> Milestone:
    """A reorg removed the event that released or refunded the milestone: back to the status it had before."""
    return MILESTONES.run(milestone, "reopen_from_chain", by=None, reason=reason, to=to)


# --- one entry for the dashboard: a transition by its name in MILESTONES, with what the person typed ---------------


def milestone_act(*, milestone: Milestone, by, action: str, reason: str = "", **params) -> Milestone:
    """Runs the person's action `action` of MILESTONES (the table is the list of actions). Two steps do more than
    the machine: verifying evaluates the data-driven criteria first, and accepting the chain's approval records
    what was withdrawn meanwhile; each goes through its own service."""
    name = MILESTONES.person_action(action).name
    if name == "verify":
        return milestone_verify(milestone=milestone, by=by)
    if name == "resolve_conflict":
        return milestone_resolve_conflict(milestone=milestone, by=by, reason=reason)
    return MILESTONES.run(milestone, name, by=by, reason=reason, **params)


def milestone_outcome(milestone: Milestone, action: str) -> str:
    """What a person reads after an action: what happened and what is still missing."""
    from apps.funding.machines import release_status

    if action == "approve_release" and milestone.status == MilestoneStatus.VERIFIED:
        if milestone.release_authorized_at is not None:
            return f"Release of “{milestone.title}” approved: the escrow contract's approvers attest it next."
        return f"Your approval of “{milestone.title}” is recorded. {release_status(milestone)['summary']}"
    if action == "pay_outside_escrow" and milestone.status == MilestoneStatus.VERIFIED:
        return f"Your approval to pay “{milestone.title}” outside escrow is recorded; the other role must approve."
    if action == "return_for_changes":
        return f"“{milestone.title}” is back in progress; the submitter reads your reason: “{milestone.status_reason}”."
    if action == "resolve_conflict":
        accepted = f"The chain's approval of “{milestone.title}” is accepted: it is released."
        if milestone.amount_disbursed:
            accepted += (
                f" {milestone.amount_disbursed} {milestone.currency} withdrawn on chain is recorded as disbursed."
            )
        return accepted
    return f"“{milestone.title}” is {milestone.get_status_display().lower()}."
