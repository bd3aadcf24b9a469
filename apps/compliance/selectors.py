"""Reads of the compliance app. Every per-organization query goes through the tenancy scoping helpers."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.compliance.models import (
    ACTIVE_FINDING_STATUSES,
    ActionStatus,
    AssessmentEvidence,
    AssessmentResult,
    AuditStatus,
    ControlAssessment,
    Dpia,
    Finding,
    FindingStatus,
    FrameworkVersion,
    PrivacyAudit,
    ProcessingActivity,
    RemediationAction,
)
from apps.compliance.scoring import score_assessments
from apps.core.errors import NotFound
from apps.tenancy.scoping import get_scoped, scope_to_user

# --- frameworks (global reference data) -------------------------------------------------------------------------


def framework_version_list(*, framework: str | None = None, current_only: bool = False) -> QuerySet:
    versions = FrameworkVersion.objects.select_related("framework").annotate(control_count=Count("controls"))
    if framework:
        versions = versions.filter(framework__slug=framework)
    if current_only:
        versions = versions.filter(is_current=True)
    return versions


def framework_version_get(*, pk) -> FrameworkVersion:
    try:
        return (
            FrameworkVersion.objects.select_related("framework")
            .prefetch_related("controls")
            .annotate(control_count=Count("controls"))
            .get(pk=pk)
        )
    except (FrameworkVersion.DoesNotExist, ValidationError, ValueError):
        raise NotFound("Framework version not found.") from None


# --- audits -----------------------------------------------------------------------------------------------------


def _audit_queryset() -> QuerySet:
    return PrivacyAudit.objects.select_related(
        "organization", "framework_version__framework", "auditor", "created_by"
    ).annotate(
        control_count=Count("assessments", distinct=True),
        assessed_count=Count(
            "assessments", filter=~Q(assessments__result=AssessmentResult.NOT_ASSESSED), distinct=True
        ),
    )


def privacy_audit_list(*, user, organization_id=None, framework: str | None = None, status: str | None = None):
    audits = scope_to_user(_audit_queryset(), user=user)
    if organization_id:
        audits = audits.filter(organization_id=organization_id)
    if framework:
        audits = audits.filter(framework_version__framework__slug=framework)
    if status:
        audits = audits.filter(status=status)
    return audits


def privacy_audit_get(*, user, pk) -> PrivacyAudit:
    return get_scoped(_audit_queryset(), user=user, pk=pk)


def audit_score(audit: PrivacyAudit) -> dict:
    """The live score of an audit (see apps/compliance/scoring.py for the rule), with a breakdown per section."""
    rows = audit.assessments.values_list("control__section", "result", "control__weight").order_by("control__position")
    return score_assessments(rows) | {"audit": str(audit.pk), "status": audit.status, "frozen_score": audit.score}


def audit_score_trend(*, user, organization_id=None, framework: str | None = None) -> list[dict]:
    """Per framework, the scores of its closed audits in period order, and the latest one."""
    audits = privacy_audit_list(user=user, organization_id=organization_id, framework=framework).filter(
        status=AuditStatus.CLOSED
    )
    trend: dict[str, dict] = {}
    for audit in audits.order_by("period_end", "closed_at"):
        slug = audit.framework_version.framework.slug
        entry = trend.setdefault(
            slug,
            {"framework": slug, "name": audit.framework_version.framework.name, "latest_score": None, "points": []},
        )
        entry["points"].append(
            {
                "audit": str(audit.pk),
                "title": audit.title,
                "organization": str(audit.organization_id),
                "framework_version": audit.framework_version.version,
                "period_end": audit.period_end,
                "score": audit.score,
            }
        )
        entry["latest_score"] = audit.score
    return list(trend.values())


def control_assessment_list(*, user, audit_id=None) -> QuerySet:
    assessments = scope_to_user(
        ControlAssessment.objects.select_related("control", "assessed_by", "audit").prefetch_related("evidence"),
        user=user,
        org_field="audit__organization",
    )
    if audit_id:
        assessments = assessments.filter(audit_id=audit_id)
    return assessments


def control_assessment_get(*, user, pk) -> ControlAssessment:
    return get_scoped(
        ControlAssessment.objects.select_related("control", "audit__organization", "assessed_by").prefetch_related(
            "evidence"
        ),
        user=user,
        org_field="audit__organization",
        pk=pk,
    )


def assessment_evidence_get(*, user, pk) -> AssessmentEvidence:
    return get_scoped(
        AssessmentEvidence.objects.select_related("assessment__audit"),
        user=user,
        org_field="assessment__audit__organization",
        pk=pk,
    )


# --- findings ---------------------------------------------------------------------------------------------------


def _finding_queryset() -> QuerySet:
    return Finding.objects.select_related("organization", "audit", "control", "owner", "accepted_by").annotate(
        open_actions=Count("actions", filter=Q(actions__status=ActionStatus.OPEN))
    )


def finding_list(
    *,
    user,
    organization_id=None,
    audit_id=None,
    status: str | None = None,
    severity: str | None = None,
    owner: str | None = None,
    overdue: bool | None = None,
    today: dt.date | None = None,
) -> QuerySet:
    findings = scope_to_user(_finding_queryset(), user=user)
    if organization_id:
        findings = findings.filter(organization_id=organization_id)
    if audit_id:
        findings = findings.filter(audit_id=audit_id)
    if status:
        findings = findings.filter(status=status)
    if severity:
        findings = findings.filter(severity=severity)
    if owner:
        findings = findings.filter(owner__username=owner)
    if overdue is not None:
        condition = overdue_condition(today)
        findings = findings.filter(condition) if overdue else findings.exclude(condition)
    return findings


def overdue_condition(today: dt.date | None = None) -> Q:
    return Q(status__in=ACTIVE_FINDING_STATUSES, due_date__lt=today or timezone.localdate())


def finding_get(*, user, pk) -> Finding:
    return get_scoped(_finding_queryset(), user=user, pk=pk)


def is_overdue(finding: Finding, today: dt.date | None = None) -> bool:
    return finding.status in ACTIVE_FINDING_STATUSES and finding.due_date < (today or timezone.localdate())


def is_acceptance_expired(finding: Finding, today: dt.date | None = None) -> bool:
    return finding.status == FindingStatus.RISK_ACCEPTED and finding.acceptance_expires_on < (
        today or timezone.localdate()
    )


def remediation_action_list(*, user, finding_id=None) -> QuerySet:
    actions = scope_to_user(
        RemediationAction.objects.select_related("owner", "finding", "completed_by"),
        user=user,
        org_field="finding__organization",
    )
    if finding_id:
        actions = actions.filter(finding_id=finding_id)
    return actions


def remediation_action_get(*, user, pk) -> RemediationAction:
    return get_scoped(
        RemediationAction.objects.select_related("owner", "finding__organization"),
        user=user,
        org_field="finding__organization",
        pk=pk,
    )


# --- records of processing --------------------------------------------------------------------------------------


def processing_activity_list(*, user, organization_id=None, lawful_basis: str | None = None) -> QuerySet:
    activities = scope_to_user(
        ProcessingActivity.objects.select_related("owner").prefetch_related(
            Prefetch("audits", queryset=PrivacyAudit.objects.only("id")),
            Prefetch("dpias", queryset=Dpia.objects.only("id", "processing_activity_id")),
        ),
        user=user,
    )
    if organization_id:
        activities = activities.filter(organization_id=organization_id)
    if lawful_basis:
        activities = activities.filter(lawful_basis=lawful_basis)
    return activities


def processing_activity_get(*, user, pk) -> ProcessingActivity:
    return get_scoped(
        ProcessingActivity.objects.select_related("organization", "owner").prefetch_related("audits", "dpias"),
        user=user,
        pk=pk,
    )


def dpia_list(*, user, organization_id=None, activity_id=None) -> QuerySet:
    dpias = scope_to_user(Dpia.objects.select_related("processing_activity"), user=user)
    if organization_id:
        dpias = dpias.filter(organization_id=organization_id)
    if activity_id:
        dpias = dpias.filter(processing_activity_id=activity_id)
    return dpias


def dpia_get(*, user, pk) -> Dpia:
    return get_scoped(Dpia.objects.select_related("organization", "processing_activity"), user=user, pk=pk)
