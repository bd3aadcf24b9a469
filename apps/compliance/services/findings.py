"""Findings: open -> remediating -> resolved -> verified, or risk_accepted until an expiry date.

An accepted risk is temporary: when its acceptance expires the finding is open again and its owner is told.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compliance import permissions
from apps.compliance.machines import FINDINGS
from apps.compliance.models import (
    ACTIVE_FINDING_STATUSES,
    ActionStatus,
    Control,
    Finding,
    FindingStatus,
    PrivacyAudit,
    RemediationAction,
    Severity,
)
from apps.compliance.services.common import member_by_username
from apps.core.errors import Conflict, ValidationFailed
from apps.tenancy.services import require

logger = logging.getLogger(__name__)

FINDING_EDITABLE = ("title", "description", "severity", "owner", "due_date", "control")


def next_ref(queryset, prefix: str, *, taken: set[str] = frozenset()) -> str:
    """The next free "<prefix>-0001" style reference within `queryset` (the rows of one scope)."""
    number = queryset.count() + 1
    while True:
        ref = f"{prefix}-{number:04d}"
        if ref not in taken and not queryset.filter(ref=ref).exists():
            return ref
        number += 1


def control_for(audit: PrivacyAudit, control_ref: str | None, *, field: str = "control") -> Control | None:
    if not control_ref:
        return None
    control = Control.objects.filter(framework_version=audit.framework_version_id, ref=control_ref).first()
    if control is None:
        raise ValidationFailed.for_field(field, f"{audit.framework_version} has no control '{control_ref}'.")
    return control


def validate_finding_values(values: dict) -> None:
    if not (values.get("title") or "").strip():
        raise ValidationFailed.for_field("title", "A finding needs a title.")
    if values.get("severity") not in Severity.values:
        raise ValidationFailed.for_field("severity", f"Choose one of: {', '.join(Severity.values)}.")
    if not isinstance(values.get("due_date"), dt.date):
        raise ValidationFailed.for_field("due_date", "Give the due date as YYYY-MM-DD.")


def finding_create(
    *,
    audit: PrivacyAudit,
    title: str,
    severity: str,
    owner: str,
    due_date: dt.date,
    by,
    description: str = "",
    control: str | None = None,
    ref: str | None = None,
) -> Finding:
    organization = audit.organization
    require(permissions.can_manage_findings(by, organization))
    values = {
        "title": (title or "").strip(),
        "description": description,
        "severity": severity,
        "owner": member_by_username(organization, owner, field="owner"),
        "due_date": due_date,
        "control": control_for(audit, control),
    }
    validate_finding_values(values)
    with transaction.atomic():
        scope = Finding.objects.filter(organization=organization)
        ref = (ref or "").strip() or next_ref(scope, "F")
        if scope.filter(ref=ref).exists():
            raise ValidationFailed.for_field("ref", f"{organization.name} already has a finding {ref}.")
        finding = Finding.objects.create(organization=organization, audit=audit, ref=ref, **values)
        audit_record(
            action="finding.created",
            actor=by,
            organization=organization,
            obj=finding,
            after=snapshot(finding, ["ref", "audit", *FINDING_EDITABLE, "status"]),
        )
    return finding


def finding_update(*, finding: Finding, by, **changes) -> Finding:
    organization = finding.organization
    require(permissions.can_manage_findings(by, organization))
    unknown = set(changes) - set(FINDING_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    if finding.status == FindingStatus.VERIFIED:
        raise Conflict("A verified finding is closed: record a new finding instead.")
    if "owner" in changes:
        changes["owner"] = member_by_username(organization, changes["owner"], field="owner")
    if "control" in changes:
        changes["control"] = control_for(finding.audit, changes["control"])
    values = {name: getattr(finding, name) for name in FINDING_EDITABLE} | changes
    validate_finding_values(values)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        before = snapshot(finding, FINDING_EDITABLE)
        for name, value in changes.items():
            setattr(finding, name, value)
        before, after = changed_fields(before, snapshot(finding, FINDING_EDITABLE))
        if after:
            finding.save(update_fields=[*changes, "updated_at"])
            audit_record(
                action="finding.updated", actor=by, organization=organization, obj=finding, before=before, after=after
            )
    return finding


# --- status machine: every transition runs through apps.compliance.machines.FINDINGS -------------------------


def finding_start_remediation(*, finding: Finding, by) -> Finding:
    return FINDINGS.run(finding, "start_remediation", by=by)


def finding_resolve(*, finding: Finding, by) -> Finding:
    """The owner says it is fixed; every remediation action must be done first."""
    return FINDINGS.run(finding, "resolve", by=by)


def finding_verify(*, finding: Finding, by) -> Finding:
    """By owner or compliance, and not by the person who resolved it."""
    return FINDINGS.run(finding, "verify", by=by)


def finding_reopen(*, finding: Finding, by, reason: str = "") -> Finding:
    """A fix that did not hold (resolved) or an acceptance withdrawn (risk_accepted) goes back to open."""
    return FINDINGS.run(finding, "reopen", by=by, reason=reason)


def finding_accept_risk(*, finding: Finding, by, reason: str, expires_on: dt.date) -> Finding:
    """Accepted as it stands until `expires_on` (at most a year); the daily task reopens it after that."""
    return FINDINGS.run(finding, "accept_risk", by=by, reason=reason, expires_on=expires_on)


def finding_act(*, finding: Finding, by, action: str, reason: str = "", **params) -> Finding:
    """Runs the person's action `action` of FINDINGS (the dashboard's entry; the table is the list of actions)."""
    return FINDINGS.run(finding, FINDINGS.person_action(action).name, by=by, reason=reason, **params)


# --- remediation actions ----------------------------------------------------------------------------------------


def remediation_action_create(
    *, finding: Finding, description: str, owner: str, by, due_date: dt.date | None = None
) -> RemediationAction:
    require(permissions.can_work_on_finding(by, finding))
    if finding.status not in ACTIVE_FINDING_STATUSES:
        raise Conflict(f"Finding {finding.ref} is {finding.get_status_display().lower()}: it takes no new actions.")
    if not (description or "").strip():
        raise ValidationFailed.for_field("description", "Describe the action.")
    owner_user = member_by_username(finding.organization, owner, field="owner")
    with transaction.atomic():
        action = RemediationAction.objects.create(
            finding=finding, description=description.strip(), owner=owner_user, due_date=due_date
        )
        audit_record(
            action="remediation_action.created",
            actor=by,
            organization=finding.organization,
            obj=action,
            after=snapshot(action, ["finding", "description", "owner", "due_date"]),
        )
    return action


def remediation_action_complete(*, action: RemediationAction, by) -> RemediationAction:
    require(permissions.can_complete_action(by, action))
    with transaction.atomic():
        action = RemediationAction.objects.select_for_update().select_related("finding__organization").get(pk=action.pk)
        if action.status == ActionStatus.DONE:
            raise Conflict("This action is already done.")
        action.status, action.completed_at, action.completed_by = ActionStatus.DONE, timezone.now(), by
        action.save(update_fields=["status", "completed_at", "completed_by", "updated_at"])
        audit_record(
            action="remediation_action.completed",
            actor=by,
            organization=action.finding.organization,
            obj=action,
            before={"status": ActionStatus.OPEN},
            after={"status": ActionStatus.DONE},
        )
    return action


# --- reminders and expiry (Celery beat) ------------------------------------------------------------------------


def _notify(user, subject: str, body: str) -> None:
    if user.email:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    else:
        logger.warning("No email address for %s; reminder not sent: %s", user.get_username(), subject)


def findings_remind_overdue(*, today: dt.date | None = None) -> int:
    """Emails the owner of each overdue open or remediating finding, at most once a day. Returns the count sent."""
    today = today or timezone.localdate()
    candidates = Finding.objects.filter(status__in=ACTIVE_FINDING_STATUSES, due_date__lt=today).exclude(
        last_reminded_on=today
    )
    sent = 0
    for finding_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            finding = (
                Finding.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("owner", "organization")
                .filter(pk=finding_id, status__in=ACTIVE_FINDING_STATUSES, due_date__lt=today)
                .exclude(last_reminded_on=today)
                .first()
            )
            if finding is None:
                continue  # another worker has it, or it changed since the query
            days = (today - finding.due_date).days
            _notify(
                finding.owner,
                f"[govtrack] Finding {finding.ref} is {days} day(s) overdue",
                f"{finding.organization.name}: finding {finding.ref} '{finding.title}' ({finding.severity}) was due "
                f"on {finding.due_date:%Y-%m-%d} and is {finding.get_status_display().lower()}.",
            )
            finding.last_reminded_on = today
            finding.save(update_fields=["last_reminded_on", "updated_at"])
            audit_record(
                action="finding.overdue_reminder_sent",
                organization=finding.organization,
                obj=finding,
                after={"to": finding.owner.get_username(), "days_overdue": days},
            )
            sent += 1
    return sent


def findings_expire_acceptances(*, today: dt.date | None = None) -> int:
    """Reopens each finding whose risk acceptance has expired and tells its owner. Returns the count reopened."""
    today = today or timezone.localdate()
    expired = Finding.objects.filter(status=FindingStatus.RISK_ACCEPTED, acceptance_expires_on__lt=today)
    count = 0
    for finding_id in expired.values_list("pk", flat=True):
        with transaction.atomic():
            finding = (
                Finding.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("owner", "organization")
                .filter(pk=finding_id, status=FindingStatus.RISK_ACCEPTED, acceptance_expires_on__lt=today)
                .first()
            )
            if finding is None:
                continue
            expired_on = finding.acceptance_expires_on
            finding = FINDINGS.run(finding, "expire_acceptance", by=None, today=today)
            # Sent from the beat task's transaction, never a request's; a failed send rolls the expiry back.
            _notify(
                finding.owner,
                f"[govtrack] Risk acceptance of finding {finding.ref} expired",
                f"{finding.organization.name}: the accepted risk of finding {finding.ref} '{finding.title}' expired "
                f"on {expired_on:%Y-%m-%d}. The finding is open again: remediate it or have the risk accepted anew.",
            )
            count += 1
    return count
