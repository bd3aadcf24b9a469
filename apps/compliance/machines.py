"""The compliance state machines, declared once: privacy audits and findings (see apps/core/transitions.py).

The services in apps/compliance/services call `AUDITS.run` and `FINDINGS.run`; the API's `allowed_actions` and
the dashboard's buttons read these same tables. A finding's permission questions are asked about the finding
itself (`permission_on="object"`): the person it is assigned to may work on it whatever their role.
"""

from apps.compliance import permissions as p
from apps.compliance.models import (
    ACTIVE_FINDING_STATUSES,
    ActionStatus,
    AssessmentResult,
    AuditStatus,
    Finding,
    FindingStatus,
    PrivacyAudit,
)
from apps.compliance.selectors import audit_score
from apps.core.acceptance import ACCEPTANCE_CLEARED, clear_acceptance, record_acceptance
from apps.core.errors import Conflict
from apps.core.transitions import Machine, Transition, change_fields

A, F = AuditStatus, FindingStatus


# --- privacy audits ---------------------------------------------------------------------------------------------


def _every_control_assessed(audit: PrivacyAudit, by, params: dict) -> None:
    pending = audit.assessments.filter(result=AssessmentResult.NOT_ASSESSED).count()
    if pending:
        raise Conflict(
            f"Cannot start reporting on audit '{audit.title}': {pending} control(s) are not assessed yet.",
            {"not_assessed": pending},
        )


def _freeze_score(audit: PrivacyAudit, by, params: dict) -> None:
    """The score the audit closes with is the one the trend shows, even if control weights change later."""
    change_fields(params, audit, {"score": audit_score(audit)["score"]})


AUDITS = Machine(
    model=PrivacyAudit,
    audit_action="privacy_audit.status_changed",
    reason_field=None,
    subject=lambda audit: f"audit '{audit.title}'",
    transitions=[
        Transition(
            "start_fieldwork",
            (A.PLANNED,),
            A.FIELDWORK,
            p.can_manage_audits,
            "start fieldwork on",
            "Start fieldwork",
            reason="none",
        ),
        Transition(
            "start_reporting",
            (A.FIELDWORK,),
            A.REPORTING,
            p.can_manage_audits,
            "start reporting on",
            "Start reporting",
            guards=(_every_control_assessed,),
            reason="none",
        ),
        Transition(
            "close",
            (A.REPORTING,),
            A.CLOSED,
            p.can_manage_audits,
            "close",
            "Close the audit",
            record=_freeze_score,
            stamp="closed_at",
            reason="none",
            confirm="Close this audit? Its score is frozen for the trend and the audit can no longer be changed.",
        ),
    ],
)


# --- findings ---------------------------------------------------------------------------------------------------


def _no_open_actions(finding: Finding, by, params: dict) -> None:
    open_actions = finding.actions.filter(status=ActionStatus.OPEN).count()
    if open_actions:
        raise Conflict(
            f"Cannot resolve finding {finding.ref}: {open_actions} remediation action(s) are still open.",
            {"open_actions": open_actions},
        )


def _record_resolver(finding: Finding, by, params: dict) -> None:
    change_fields(params, finding, {"resolved_by": by})


def _record_verifier(finding: Finding, by, params: dict) -> None:
    change_fields(params, finding, {"verified_by": by})


def _acceptance_expired(finding: Finding, by, params: dict) -> None:
    today = params.get("today")
    if today is None or finding.acceptance_expires_on is None or finding.acceptance_expires_on >= today:
        raise Conflict(f"The risk acceptance of finding {finding.ref} has not expired.")


def _record_expiry(finding: Finding, by, params: dict) -> None:
    """Open again, and reminded today already: the expiry email is the day's reminder."""
    change_fields(params, finding, {**ACCEPTANCE_CLEARED, "last_reminded_on": params["today"]})


FINDINGS = Machine(
    model=Finding,
    audit_action="finding.status_changed",
    reason_field=None,
    permission_on="object",
    subject=lambda finding: f"finding {finding.ref}",
    transitions=[
        Transition(
            "start_remediation",
            (F.OPEN,),
            F.REMEDIATING,
            p.can_work_on_finding,
            "start remediating",
            "Start remediation",
            reason="none",
        ),
        Transition(
            "resolve",
            ACTIVE_FINDING_STATUSES,
            F.RESOLVED,
            p.can_work_on_finding,
            "resolve",
            "Mark resolved",
            guards=(_no_open_actions,),
            record=_record_resolver,
            stamp="resolved_at",
            reason="none",
        ),
        Transition(
            "verify",
            (F.RESOLVED,),
            F.VERIFIED,
            p.can_verify_finding,
            "verify",
            "Verify the fix",
            record=_record_verifier,
            stamp="verified_at",
            reason="none",
            confirm="Verify this finding's remediation? A verified finding is closed for good.",
        ),
        Transition(
            "reopen",
            (F.RESOLVED, F.RISK_ACCEPTED),
            F.OPEN,
            p.can_reopen_finding,
            "reopen",
            "Reopen",
            record=clear_acceptance,
        ),
        Transition(
            "accept_risk",
            ACTIVE_FINDING_STATUSES,
            F.RISK_ACCEPTED,
            p.can_accept_finding_risk,
            "accept the risk of",
            "Accept the risk",
            record=record_acceptance,
            reason="required",
        ),
        # The daily beat task, when an acceptance has run out (govtrack itself, never a person).
        Transition(
            "expire_acceptance",
            (F.RISK_ACCEPTED,),
            F.OPEN,
            None,
            "expire the risk acceptance of",
            "Acceptance expired",
            guards=(_acceptance_expired,),
            record=_record_expiry,
            system=True,
            reason="none",
            audit_action="finding.acceptance_expired",
        ),
    ],
)
