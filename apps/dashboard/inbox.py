"""What is waiting for the signed-in user in the current organization: approvals, assessments, reviews, interim
reports to write or (for the funder) to decide, and what is overdue, each with the page where it is done. A fixed
number of queries whatever the counts.

Milestone approvals are read from the state machine (`MILESTONES.actions_for`): a milestone is waiting for this
user when its table offers them a step they may take now, so the inbox never disagrees with the buttons.
"""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from apps.compliance import permissions as compliance_permissions
from apps.compliance.models import ACTIVE_FINDING_STATUSES, ActionStatus, AuditStatus, FindingStatus
from apps.compliance.selectors import finding_list, privacy_audit_list, remediation_action_list
from apps.funding import permissions as funding_permissions
from apps.funding.machines import MILESTONES, organization_shared
from apps.funding.models import AmendmentStatus, MilestoneStatus, PeriodStatus
from apps.funding.selectors import budget_amendment_list, milestone_list, reporting_period_list
from apps.risks import permissions as risk_permissions
from apps.risks.models import RiskStatus
from apps.risks.selectors import risk_list

INBOX_LIMIT = 50
# Milestones asked about a decision: the nearest ones by due date. What the machine's guards read (the
# organization's policy, the approvals and evidence so far, the escrow row) is loaded with them.
DECISION_LIMIT = 10
# The milestone steps that are someone's decision (not starting or submitting one's own work).
DECISIONS = ("verify", "approve_release")
REPORT_SOON_DAYS = 14  # an interim report shows in the grantee's inbox two weeks before it falls due


def _milestone_url(milestone) -> str:
    if milestone.grant_id:
        return f"{reverse('dashboard:grant', args=[milestone.grant_id])}#m-{milestone.pk}"
    return f"{reverse('dashboard:investment', args=[milestone.investment_id])}#m-{milestone.pk}"


def _period_url(period) -> str:
    return f"{reverse('dashboard:grant', args=[period.grant_id])}#budget-work"


def _period_words(period) -> str:
    return f"for {period.start:%-d %b %Y} to {period.end:%-d %b %Y} of {period.grant.title}"


def waiting_for(*, user, org, today: dt.date | None = None) -> list[dict]:
    today = today or timezone.localdate()
    items: list[dict] = []

    def add(kind: str, label: str, url: str, due=None, *, overdue: bool = False):
        items.append({"kind": kind, "label": label, "url": url, "due": due, "overdue": overdue})

    # Milestones that wait for a decision this user may take (verify, approve the release), and overdue ones.
    milestones = (
        milestone_list(user=user)
        .filter(organization=org, status__in=(MilestoneStatus.SUBMITTED, MilestoneStatus.VERIFIED))
        .select_related("grant", "investment", "escrow")
        .prefetch_related("approvals", "criteria", "evidence")
        .order_by("due_date")[:DECISION_LIMIT]
    )
    for milestone in organization_shared(list(milestones), org):
        for action in MILESTONES.actions_for(milestone, user, include_refused=False):
            if action.name in DECISIONS:
                add("Approval", f"{action.label}: {milestone.title}", _milestone_url(milestone), milestone.due_date)
                break
    if funding_permissions.can_manage_funding(user, org)[0]:
        late = (
            milestone_list(user=user)
            .filter(
                organization=org,
                due_date__lt=today,
                status__in=(MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS),
            )
            .prefetch_related(None)  # the title and due date are all the list shows
            .order_by("due_date")[:INBOX_LIMIT]
        )
        for milestone in late:
            add("Overdue", f"Milestone {milestone.title}", _milestone_url(milestone), milestone.due_date, overdue=True)

    # Interim reports: the funder's decisions (reports submitted, re-allocations asked), and the grantee's reports
    # falling due within REPORT_SOON_DAYS, overdue or returned with comments.
    if funding_permissions.can_decide_as_funder(user, org)[0]:
        for period in (
            reporting_period_list(user=user)
            .filter(organization=org, status=PeriodStatus.SUBMITTED)
            .prefetch_related(None)
            .order_by("due_date")[:INBOX_LIMIT]
        ):
            add("Approval", f"Review the report {_period_words(period)}", _period_url(period), period.due_date)
        for amendment in (
            budget_amendment_list(user=user)
            .filter(organization=org, status=AmendmentStatus.PROPOSED)
            .select_related("from_line__grant", "from_line__investment")
            .order_by("created_at")[:INBOX_LIMIT]
        ):
            parent = amendment.from_line.grant or amendment.from_line.investment
            kind = "grant" if amendment.from_line.grant_id else "investment"
            add(
                "Approval",
                f"Decide moving {amendment.amount} {amendment.from_line.currency} from {amendment.from_line.name} to "
                f"{amendment.to_line.name} ({parent.title})",
                f"{reverse(f'dashboard:{kind}', args=[parent.pk])}#budget-work",
            )
    if funding_permissions.can_submit_period_report(user, org)[0]:
        for period in (
            reporting_period_list(user=user)
            .filter(
                organization=org,
                status__in=(PeriodStatus.DUE, PeriodStatus.RETURNED),
                due_date__lte=today + dt.timedelta(days=REPORT_SOON_DAYS),
            )
            .prefetch_related(None)
            .order_by("due_date")[:INBOX_LIMIT]
        ):
            returned = period.status == PeriodStatus.RETURNED
            add(
                "Overdue" if period.due_date < today else "Report",
                f"{'Revise' if returned else 'Write'} the report {_period_words(period)}",
                _period_url(period),
                period.due_date,
                overdue=period.due_date < today,
            )

    # Audits in fieldwork with controls still to assess.
    if compliance_permissions.can_manage_audits(user, org)[0]:
        audits = privacy_audit_list(user=user, organization_id=org.pk, status=AuditStatus.FIELDWORK)
        for audit in audits:
            left = audit.control_count - audit.assessed_count
            if left:
                add(
                    "Assessment",
                    f"{left} control(s) to assess in {audit.title}",
                    reverse("dashboard:audit", args=[audit.pk]),
                )

    # Findings: mine (or all, for compliance) overdue; resolved ones someone else resolved, to verify.
    manages_findings = compliance_permissions.can_manage_findings(user, org)[0]
    findings = finding_list(user=user, organization_id=org.pk).filter(
        status__in=(*ACTIVE_FINDING_STATUSES, FindingStatus.RESOLVED)
    )
    if not manages_findings:
        findings = findings.filter(owner=user)
    for finding in findings.order_by("due_date")[:INBOX_LIMIT]:
        url = reverse("dashboard:finding", args=[finding.pk])
        if finding.status == FindingStatus.RESOLVED:
            if compliance_permissions.can_verify_finding(user, finding)[0]:
                add("Review", f"Verify the fix of {finding.ref} {finding.title}", url)
        elif finding.due_date < today:
            add("Overdue", f"Finding {finding.ref} {finding.title}", url, finding.due_date, overdue=True)
        elif finding.owner_id == user.pk:
            add("Finding", f"Remediate {finding.ref} {finding.title}", url, finding.due_date)

    actions = (
        remediation_action_list(user=user, finding_id=None)
        .filter(finding__organization=org, owner=user, status=ActionStatus.OPEN)
        .order_by("due_date")[:INBOX_LIMIT]
    )
    for action in actions:
        overdue = action.due_date is not None and action.due_date < today
        add(
            "Overdue" if overdue else "Action",
            f"{action.description[:80]} ({action.finding.ref})",
            reverse("dashboard:finding", args=[action.finding_id]),
            action.due_date,
            overdue=overdue,
        )

    # Risks due for review that this user may review.
    risks = (
        risk_list(user=user)
        .filter(organization=org, next_review_on__lte=today)
        .exclude(status=RiskStatus.CLOSED)
        .order_by("next_review_on")[:INBOX_LIMIT]
    )
    for risk in risks:
        if risk_permissions.can_update_risk(user, risk)[0]:
            add(
                "Review",
                f"Review risk {risk.ref} {risk.title}",
                reverse("dashboard:risk", args=[risk.pk]),
                risk.next_review_on,
                overdue=risk.next_review_on < today,
            )
    return sorted(items, key=lambda item: (not item["overdue"], item["due"] or dt.date.max))
