from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.core.states import require_state
from apps.funding.machines import GRANTS
from apps.funding.models import (
    FocusArea,
    Funder,
    Grant,
    GrantReport,
    GrantReportStatus,
    GrantRequirement,
    GrantStatus,
    MilestoneStatus,
    RequirementKind,
    RequirementStatus,
)
from apps.funding.permissions import can_manage_funding
from apps.funding.services.common import check, clean_date, clean_text, same_org

GRANT_FIELDS = [
    "funder",
    "title",
    "program",
    "reference",
    "focus_areas",
    "currency",
    "amount_requested",
    "amount_awarded",
    "period_start",
    "period_end",
    "owner",
    "description",
]
# Money and currency are fixed once a grant leaves draft: later changes go through the award transition.
FROZEN_AFTER_DRAFT = {"currency", "amount_requested", "funder"}
FINAL_MILESTONE_STATUSES = {MilestoneStatus.RELEASED, MilestoneStatus.MISSED, MilestoneStatus.REFUNDED}


def _clean_focus_areas(areas) -> list[str]:
    if not isinstance(areas, list | tuple):
        raise ValidationFailed.for_field("focus_areas", "Give a list of focus areas.")
    unknown = [area for area in areas if area not in FocusArea.values]
    if unknown:
        raise ValidationFailed.for_field(
            "focus_areas",
            f"Unknown focus areas: {', '.join(map(str, unknown))}. Choose from: {', '.join(FocusArea.values)}.",
        )
    return sorted(set(areas))


def _clean_period(start, end):
    start, end = clean_date(start, field="period_start"), clean_date(end, field="period_end")
    if end < start:
        raise ValidationFailed.for_field("period_end", "The period ends before it starts.")
    return start, end


def _clean_owner(owner, organization):
    if owner is not None and not owner.memberships.filter(organization=organization).exists():
        raise ValidationFailed.for_field("owner", "The owner must be a member of the organization.")
    return owner


def grant_create(
    *,
    organization,
    by,
    funder: Funder,
    title: str,
    currency: str,
    amount_requested,
    period_start,
    period_end,
    program: str = "",
    reference: str = "",
    focus_areas=(),
    owner=None,
    description: str = "",
) -> Grant:
    check(can_manage_funding, by, organization)
    same_org(funder, organization, field="funder")
    start, end = _clean_period(period_start, period_end)
    grant = Grant(
        organization=organization,
        funder=funder,
        title=clean_text(title, field="title"),
        program=clean_text(program, field="program", required=False),
        reference=reference or "",
        focus_areas=_clean_focus_areas(list(focus_areas)),
        currency=clean_currency(currency),
        amount_requested=clean_amount(amount_requested, field="amount_requested"),
        period_start=start,
        period_end=end,
        owner=_clean_owner(owner, organization) or by,
        description=description,
    )
    with transaction.atomic():
        grant.save(force_insert=True)
        audit_record(
            action="grant.created",
            actor=by,
            organization=organization,
            obj=grant,
            after=snapshot(grant, [*GRANT_FIELDS, "status"]),
        )
    return grant


def grant_update(*, grant: Grant, by, **changes) -> Grant:
    check(can_manage_funding, by, grant.organization)
    if grant.status == GrantStatus.CLOSED:
        raise Conflict("A closed grant cannot be changed.")
    frozen = FROZEN_AFTER_DRAFT & set(changes)
    if frozen and grant.status != GrantStatus.DRAFT:
        field = sorted(frozen)[0]
        raise ValidationFailed.for_field(field, "Fixed once the grant is submitted.")
    if "funder" in changes:
        same_org(changes["funder"], grant.organization, field="funder")
    if "title" in changes:
        changes["title"] = clean_text(changes["title"], field="title")
    if "focus_areas" in changes:
        changes["focus_areas"] = _clean_focus_areas(changes["focus_areas"])
    if "currency" in changes:
        changes["currency"] = clean_currency(changes["currency"])
    if "amount_requested" in changes:
        changes["amount_requested"] = clean_amount(changes["amount_requested"], field="amount_requested")
    if "owner" in changes:
        _clean_owner(changes["owner"], grant.organization)
    if "period_start" in changes or "period_end" in changes:
        changes["period_start"], changes["period_end"] = _clean_period(
            changes.get("period_start", grant.period_start), changes.get("period_end", grant.period_end)
        )
        outside = grant.milestones.exclude(due_date__range=(changes["period_start"], changes["period_end"]))
        if outside.exists():
            raise ValidationFailed.for_field("period_end", "Milestones fall outside this period: move them first.")
    with transaction.atomic():
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        before = snapshot(grant, GRANT_FIELDS)
        for field, value in changes.items():
            if field in GRANT_FIELDS:
                setattr(grant, field, value)
        grant.save(update_fields=[*GRANT_FIELDS, "updated_at"])
        old, new = changed_fields(before, snapshot(grant, GRANT_FIELDS))
        audit_record(
            action="grant.updated", actor=by, organization=grant.organization, obj=grant, before=old, after=new
        )
    return grant


# --- status machine: every transition runs through apps.funding.machines.GRANTS ------------------------------


def grant_submit(*, grant: Grant, by) -> Grant:
    return GRANTS.run(grant, "submit", by=by)


def grant_start_review(*, grant: Grant, by) -> Grant:
    return GRANTS.run(grant, "start_review", by=by)


def grant_award(*, grant: Grant, by, amount_awarded) -> Grant:
    return GRANTS.run(grant, "award", by=by, amount_awarded=clean_amount(amount_awarded, field="amount_awarded"))


def grant_reject(*, grant: Grant, by, reason: str) -> Grant:
    return GRANTS.run(grant, "reject", by=by, reason=reason)


def grant_activate(*, grant: Grant, by) -> Grant:
    return GRANTS.run(grant, "activate", by=by)


def grant_begin_closing(*, grant: Grant, by) -> Grant:
    return GRANTS.run(grant, "begin_closing", by=by)


def grant_close(*, grant: Grant, by) -> Grant:
    return GRANTS.run(grant, "close", by=by)


# --- reporting obligations and requirements ------------------------------------------------------------


def grant_report_add(*, grant: Grant, by, title: str, due_date) -> GrantReport:
    check(can_manage_funding, by, grant.organization)
    due = clean_date(due_date, field="due_date")
    with transaction.atomic():
        report = GrantReport.objects.create(grant=grant, title=clean_text(title, field="title"), due_date=due)
        audit_record(
            action="grant.report_scheduled",
            actor=by,
            organization=grant.organization,
            obj=report,
            after={"grant": str(grant.pk), "title": report.title, "due_date": due},
        )
    return report


def grant_report_submit(*, report: GrantReport, by) -> GrantReport:
    check(can_manage_funding, by, report.grant.organization)
    with transaction.atomic():
        report = GrantReport.objects.select_for_update().select_related("grant__organization").get(pk=report.pk)
        require_state(report, [GrantReportStatus.DUE], "submit")
        report.status, report.submitted_at = GrantReportStatus.SUBMITTED, timezone.now()
        report.save(update_fields=["status", "submitted_at", "updated_at"])
        audit_record(
            action="grant.report_submitted",
            actor=by,
            organization=report.grant.organization,
            obj=report,
            before={"status": GrantReportStatus.DUE},
            after={"status": report.status},
        )
    return report


def grant_requirement_add(*, grant: Grant, by, kind: str, description: str) -> GrantRequirement:
    check(can_manage_funding, by, grant.organization)
    if kind not in RequirementKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(RequirementKind.values)}.")
    with transaction.atomic():
        requirement = GrantRequirement.objects.create(
            grant=grant, kind=kind, description=clean_text(description, field="description", max_length=5000)
        )
        audit_record(
            action="grant.requirement_added",
            actor=by,
            organization=grant.organization,
            obj=requirement,
            after={"kind": kind, "description": requirement.description},
        )
    return requirement


def grant_requirement_update(
    *, requirement: GrantRequirement, by, status: str, evidence: str | None = None
) -> GrantRequirement:
    organization = requirement.grant.organization
    check(can_manage_funding, by, organization)
    if status not in RequirementStatus.values:
        raise ValidationFailed.for_field("status", f"Choose one of: {', '.join(RequirementStatus.values)}.")
    with transaction.atomic():
        before = snapshot(requirement, ["status", "evidence"])
        requirement.status = status
        if evidence is not None:
            requirement.evidence = evidence
        requirement.save(update_fields=["status", "evidence", "updated_at"])
        old, new = changed_fields(before, snapshot(requirement, ["status", "evidence"]))
        audit_record(
            action="grant.requirement_updated",
            actor=by,
            organization=organization,
            obj=requirement,
            before=old,
            after=new,
        )
    return requirement


def grant_act(*, grant: Grant, by, action: str, reason: str = "", **params) -> Grant:
    """Runs the person's action `action` of GRANTS (the dashboard's entry; the table is the list of actions)."""
    return GRANTS.run(grant, GRANTS.person_action(action).name, by=by, reason=reason, **params)
