"""The release conditions read from other records: `report_approved` (a reporting period's report is approved)
and `compliance` (the latest closed privacy audit against a framework scores at least N, and no active finding
of that framework is at or above a severity).

Each evaluation writes a ConditionReport: the canonical JSON of what was read and decided, and its SHA-256. The
same records give the same document and so the same hash; an evaluation that finds exactly the stored report
reuses it. They are evaluated like KPI criteria: as a milestone is verified, and on `POST .../evaluate/`.
"""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.audit.services import audit_record
from apps.core.canonical import canonical_json, normalize, sha256_hex
from apps.core.errors import ValidationFailed
from apps.funding.models import ConditionReport, CriterionKind, MilestoneCriterion, PeriodStatus, ReportingPeriod

REPORT_VERSION = 1
SEVERITY_ORDER = ("low", "medium", "high", "critical")


def _fail(key: str, message: str) -> ValidationFailed:
    return ValidationFailed.for_field(f"config.{key}", message)


def report_approved_config_clean(config: dict, *, milestone) -> dict:
    if not isinstance(config, dict) or set(config) - {"period"}:
        raise ValidationFailed.for_field("config", 'Give {"period": "<reporting period id>"}.')
    if milestone.grant_id is None:
        raise _fail("period", "Only a grant's milestones wait for a period's report.")
    period = ReportingPeriod.objects.filter(pk=_uuid(config.get("period")), grant_id=milestone.grant_id).first()
    if period is None:
        raise _fail("period", "Not a reporting period of this milestone's grant.")
    return {"period": str(period.pk)}


def compliance_config_clean(config: dict) -> dict:
    from apps.compliance.models import Framework

    allowed = {"framework", "min_score", "max_open_severity"}
    if not isinstance(config, dict) or set(config) - allowed:
        raise ValidationFailed.for_field("config", f"Allowed keys: {', '.join(sorted(allowed))}.")
    slug = config.get("framework")
    if not isinstance(slug, str) or not Framework.objects.filter(slug=slug).exists():
        known = ", ".join(Framework.objects.order_by("slug").values_list("slug", flat=True))
        raise _fail("framework", f"Name a framework by its slug: {known}.")
    try:
        score = Decimal(str(config.get("min_score")))
    except InvalidOperation:
        raise _fail("min_score", "A score from 0 to 100.") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(100):
        raise _fail("min_score", "A score from 0 to 100.")
    severity = config.get("max_open_severity", "high")
    if severity not in SEVERITY_ORDER:
        raise _fail("max_open_severity", f"Choose one of: {', '.join(SEVERITY_ORDER)}.")
    return {"framework": slug, "min_score": str(score.quantize(Decimal("0.01"))), "max_open_severity": severity}


def _uuid(value):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _fail("period", "Give the id of a reporting period.") from None


# --- evaluation ---------------------------------------------------------------------------------------------------


def _report_approved_document(criterion: MilestoneCriterion) -> dict:
    period = ReportingPeriod.objects.filter(pk=criterion.config["period"]).first()
    facts = None
    if period is not None:
        facts = {
            "id": period.pk,
            "start": period.start,
            "end": period.end,
            "status": period.status,
            "decided_by": period.decided_by_id,
            "decided_at": period.decided_at,
        }
    passed = period is not None and period.status == PeriodStatus.APPROVED
    reason = "approved" if passed else (f"the report is {period.status}" if period else "the period no longer exists")
    return {"period": facts, "result": {"passed": passed, "reason": reason}}


def _compliance_document(criterion: MilestoneCriterion) -> dict:
    from apps.compliance.models import ACTIVE_FINDING_STATUSES, AuditStatus, Finding, PrivacyAudit

    config = criterion.config
    organization_id = criterion.milestone.organization_id
    audit = (
        PrivacyAudit.objects.filter(
            organization_id=organization_id,
            status=AuditStatus.CLOSED,
            framework_version__framework__slug=config["framework"],
        )
        .select_related("framework_version")
        .order_by("-closed_at", "-created_at")
        .first()
    )
    blocking = SEVERITY_ORDER[SEVERITY_ORDER.index(config["max_open_severity"]) :]
    findings = Finding.objects.filter(
        organization_id=organization_id,
        audit__framework_version__framework__slug=config["framework"],
        status__in=ACTIVE_FINDING_STATUSES,
        severity__in=blocking,
    ).order_by("ref")
    open_findings = [{"id": f.pk, "ref": f.ref, "severity": f.severity, "status": f.status} for f in findings]
    reasons = []
    if audit is None:
        reasons.append(f"no closed audit against {config['framework']}")
    elif audit.score is None or audit.score < Decimal(config["min_score"]):
        reasons.append(f"the latest closed audit scores {audit.score}, below {config['min_score']}")
    if open_findings:
        reasons.append(f"{len(open_findings)} active finding(s) of severity {config['max_open_severity']} or above")
    return {
        "audit": None
        if audit is None
        else {
            "id": audit.pk,
            "title": audit.title,
            "framework_version": str(audit.framework_version),
            "closed_at": audit.closed_at,
            "score": None if audit.score is None else str(audit.score),
        },
        "open_findings": open_findings,
        "result": {"passed": not reasons, "reason": "; ".join(reasons) or "met"},
    }


DOCUMENTS = {CriterionKind.REPORT_APPROVED: _report_approved_document, CriterionKind.COMPLIANCE: _compliance_document}


def condition_document(criterion: MilestoneCriterion) -> dict:
    """What the condition reads now, and its verdict, as plain JSON types (the report, before hashing)."""
    body = DOCUMENTS[criterion.kind](criterion)
    return normalize(
        {
            "version": REPORT_VERSION,
            "kind": criterion.kind,
            "organization": criterion.milestone.organization_id,
            "milestone": criterion.milestone_id,
            "criterion": criterion.pk,
            "inputs": criterion.config,
            **body,
        }
    )


def condition_evaluate(*, criterion: MilestoneCriterion, by=None) -> ConditionReport:
    """Evaluates the condition now, stores (or reuses) its report and records the outcome on the criterion."""
    from apps.funding.services.milestones import criterion_record_result

    document = condition_document(criterion)
    text = canonical_json(document)
    digest = sha256_hex(text)
    passed = document["result"]["passed"]
    with transaction.atomic():
        report = ConditionReport.objects.filter(criterion=criterion, sha256=digest).first()
        if report is None:
            report = ConditionReport.objects.create(
                organization_id=criterion.milestone.organization_id,
                criterion=criterion,
                kind=criterion.kind,
                passed=passed,
                canonical_json=text,
                sha256=digest,
            )
            audit_record(
                action="milestone.condition_reported",
                actor=by,
                organization=criterion.milestone.organization,
                obj=report,
                object_repr=f"{criterion.kind} {'pass' if passed else 'fail'} {digest[:12]}",
                after={"criterion": str(criterion.pk), "passed": passed, "sha256": digest},
            )
    criterion_record_result(
        criterion=criterion,
        passed=passed,
        by=by,
        result={
            "report_id": str(report.pk),
            "report_sha256": digest,
            "passed": passed,
            "reason": document["result"]["reason"],
        },
    )
    return report


def condition_rebuild_matches(report: ConditionReport) -> bool:
    """Whether the stored report's text still hashes to its sha256 (edits of the stored row show)."""
    return sha256_hex(report.canonical_json) == report.sha256
