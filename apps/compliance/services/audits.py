"""Privacy audits: planned -> fieldwork -> reporting -> closed, one assessment per control."""

import datetime as dt

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compliance import permissions
from apps.compliance.machines import AUDITS
from apps.compliance.models import (
    ASSESSABLE_AUDIT_STATUSES,
    AssessmentEvidence,
    AssessmentResult,
    AuditorType,
    AuditStatus,
    ControlAssessment,
    FrameworkVersion,
    PrivacyAudit,
)
from apps.compliance.services.common import member_by_username
from apps.core.errors import Conflict, ValidationFailed
from apps.core.uploads import evidence_check
from apps.tenancy.models import Organization
from apps.tenancy.services import require

AUDIT_EDITABLE = ("title", "scope", "period_start", "period_end", "auditor_type", "auditor_name", "auditor")


def _validate_audit(organization: Organization, values: dict) -> dict:
    if not (values.get("title") or "").strip():
        raise ValidationFailed.for_field("title", "An audit needs a title.")
    if values["period_end"] < values["period_start"]:
        raise ValidationFailed.for_field("period_end", "The period ends before it starts.")
    if values["auditor_type"] not in AuditorType.values:
        raise ValidationFailed.for_field("auditor_type", f"Choose one of: {', '.join(AuditorType.values)}.")
    auditor = values.get("auditor")
    if isinstance(auditor, str) or auditor is None:
        values["auditor"] = member_by_username(organization, auditor, field="auditor", required=False)
    if values["auditor_type"] == AuditorType.EXTERNAL and not (values.get("auditor_name") or "").strip():
        raise ValidationFailed.for_field("auditor_name", "Name the external auditor (firm or person).")
    if values["auditor_type"] == AuditorType.INTERNAL and values["auditor"] is None:
        raise ValidationFailed.for_field("auditor", "An internal audit needs an auditor from the organization.")
    return values


def privacy_audit_create(
    *,
    organization: Organization,
    framework_version: FrameworkVersion,
    title: str,
    period_start: dt.date,
    period_end: dt.date,
    by,
    scope: str = "",
    auditor_type: str = AuditorType.INTERNAL,
    auditor_name: str = "",
    auditor: str | None = None,
) -> PrivacyAudit:
    """Plans an audit against one framework version, with an unassessed assessment for each of its controls."""
    require(permissions.can_manage_audits(by, organization))
    values = _validate_audit(
        organization,
        {
            "title": title,
            "scope": scope,
            "period_start": period_start,
            "period_end": period_end,
            "auditor_type": auditor_type,
            "auditor_name": auditor_name,
            "auditor": auditor,
        },
    )
    with transaction.atomic():
        audit = PrivacyAudit.objects.create(
            organization=organization, framework_version=framework_version, created_by=by, **values
        )
        ControlAssessment.objects.bulk_create(
            [ControlAssessment(audit=audit, control=control) for control in framework_version.controls.all()]
        )
        audit_record(
            action="privacy_audit.created",
            actor=by,
            organization=organization,
            obj=audit,
            after=snapshot(audit, [*AUDIT_EDITABLE, "framework_version", "status"]),
        )
    return audit


def privacy_audit_update(*, audit: PrivacyAudit, by, **changes) -> PrivacyAudit:
    require(permissions.can_manage_audits(by, audit.organization))
    if audit.status == AuditStatus.CLOSED:
        raise Conflict("A closed audit cannot be changed.")
    unknown = set(changes) - set(AUDIT_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    values = {name: getattr(audit, name) for name in AUDIT_EDITABLE} | changes
    if "auditor" not in changes:
        values["auditor"] = audit.auditor
    values = _validate_audit(audit.organization, values)
    with transaction.atomic():
        audit = PrivacyAudit.objects.select_for_update().get(pk=audit.pk)
        before = snapshot(audit, AUDIT_EDITABLE)
        for name in AUDIT_EDITABLE:
            setattr(audit, name, values[name])
        before, after = changed_fields(before, snapshot(audit, AUDIT_EDITABLE))
        if after:
            audit.save(update_fields=[*AUDIT_EDITABLE, "updated_at"])
            audit_record(
                action="privacy_audit.updated",
                actor=by,
                organization=audit.organization,
                obj=audit,
                before=before,
                after=after,
            )
    return audit


# --- status machine: every transition runs through apps.compliance.machines.AUDITS ---------------------------


def privacy_audit_start_fieldwork(*, audit: PrivacyAudit, by) -> PrivacyAudit:
    return AUDITS.run(audit, "start_fieldwork", by=by)


def privacy_audit_start_reporting(*, audit: PrivacyAudit, by) -> PrivacyAudit:
    """Needs every control assessed (not applicable counts as assessed)."""
    return AUDITS.run(audit, "start_reporting", by=by)


def privacy_audit_close(*, audit: PrivacyAudit, by) -> PrivacyAudit:
    """Closes the audit and freezes its score for the trend."""
    return AUDITS.run(audit, "close", by=by)


def privacy_audit_act(*, audit: PrivacyAudit, by, action: str, reason: str = "", **params) -> PrivacyAudit:
    """Runs the person's action `action` of AUDITS (the dashboard's entry; the table is the list of actions)."""
    return AUDITS.run(audit, AUDITS.person_action(action).name, by=by, reason=reason, **params)


# --- assessments ------------------------------------------------------------------------------------------------


def _require_assessable(assessment: ControlAssessment, by) -> PrivacyAudit:
    audit = PrivacyAudit.objects.select_related("organization").get(pk=assessment.audit_id)
    require(permissions.can_manage_audits(by, audit.organization))
    if audit.status not in ASSESSABLE_AUDIT_STATUSES:
        raise Conflict(
            f"Controls are assessed during fieldwork or reporting; this audit is {audit.get_status_display().lower()}."
        )
    return audit


def control_assessment_record(
    *, assessment: ControlAssessment, by, result: str | None = None, notes: str | None = None
) -> ControlAssessment:
    audit = _require_assessable(assessment, by)
    if result is not None and result not in AssessmentResult.values:
        raise ValidationFailed.for_field("result", f"Choose one of: {', '.join(AssessmentResult.values)}.")
    with transaction.atomic():
        assessment = ControlAssessment.objects.select_for_update().get(pk=assessment.pk)
        before = snapshot(assessment, ["result", "notes"])
        if result is not None:
            assessment.result = result
        if notes is not None:
            assessment.notes = notes
        before, after = changed_fields(before, snapshot(assessment, ["result", "notes"]))
        if not after:
            return assessment
        assessment.assessed_by, assessment.assessed_at = by, timezone.now()
        assessment.save(update_fields=["result", "notes", "assessed_by", "assessed_at", "updated_at"])
        audit_record(
            action="control_assessment.recorded",
            actor=by,
            organization=audit.organization,
            obj=assessment,
            object_repr=f"{audit.title}: {assessment.control.ref}",
            before=before,
            after=after,
        )
    return assessment


def assessment_evidence_add(*, assessment: ControlAssessment, file: UploadedFile, by) -> AssessmentEvidence:
    audit = _require_assessable(assessment, by)
    checked = evidence_check(file)
    evidence = AssessmentEvidence(
        assessment=assessment,
        name=checked.original_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=by,
    )
    with transaction.atomic():
        # The file is written before the row; if the row fails, the file is removed again.
        evidence.file.save(evidence.id.hex, file, save=False)
        try:
            evidence.save(force_insert=True)
            audit_record(
                action="control_assessment.evidence_added",
                actor=by,
                organization=audit.organization,
                obj=evidence,
                object_repr=f"{audit.title}: {assessment.control.ref}: {evidence.name}",
                after={"name": evidence.name, "sha256": evidence.sha256, "size": evidence.size},
            )
        except Exception:
            evidence.file.delete(save=False)
            raise
    return evidence
