"""Compliance: audits with their progress and score, assessing controls with their evidence, and findings."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.compliance import permissions as compliance_permissions
from apps.compliance.machines import AUDITS, FINDINGS
from apps.compliance.models import ASSESSABLE_AUDIT_STATUSES, AuditStatus, FindingStatus, Severity
from apps.compliance.selectors import (
    assessment_evidence_get,
    audit_score,
    control_assessment_get,
    control_assessment_list,
    finding_get,
    finding_list,
    is_overdue,
    privacy_audit_get,
    remediation_action_get,
    remediation_action_list,
)
from apps.compliance.services.audits import assessment_evidence_add, control_assessment_record, privacy_audit_act
from apps.compliance.services.findings import (
    finding_act,
    finding_create,
    remediation_action_complete,
    remediation_action_create,
)
from apps.core.errors import NotFound
from apps.core.uploads import evidence_response
from apps.dashboard import forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.listing import Column, list_page
from apps.dashboard.views.activity import feed_context
from apps.dashboard.views.common import allowed, get_or_404, machine_action, page, run_service
from apps.tenancy.selectors import membership_list

FINDING_COLUMNS = [
    Column("ref", "Ref", "ref", "ref"),
    Column("title", "Finding", "title", "title"),
    Column("severity", "Severity", "severity_rank", "severity"),
    Column("status", "Status", "status", "status"),
    Column("due", "Due", "due_date", "due_date"),
    Column("owner", "Owner", "owner__username", "owner.username", css="hide-small"),
]
FINDING_EXPORT_ONLY = [
    Column("audit", "Audit", None, "audit.title"),
    Column("control", "Control", None, lambda f: f.control.ref if f.control else ""),
]


@org_view
def compliance(request):
    user, org = request.user, request.org
    filters = forms.FindingFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    findings = selectors.findings_of_org(
        user=user, org=org, severity=values.get("severity"), status=values.get("status"), overdue=values.get("overdue")
    )
    listing = list_page(
        request,
        findings,
        columns=FINDING_COLUMNS + FINDING_EXPORT_ONLY,
        search=("ref", "title", "description", "owner__username"),
        default_sort="due",
        filename="findings",
    )
    if not isinstance(listing, dict):
        return listing
    listing["headers"] = listing["headers"][: len(FINDING_COLUMNS)]
    today = timezone.localdate()
    context = {
        "scores": selectors.compliance_scores(user=user, org=org),
        "audits": list(selectors.audits_of_org(user=user, org=org)),
        "findings_summary": selectors.findings_summary(user=user, org=org),
        "findings": [(f, is_overdue(f, today)) for f in listing["rows"]],
        "listing": listing,
        "filters": filters,
        "severities": Severity.choices,
    }
    return page(request, "dashboard/compliance.html", context, section="dashboard:compliance")


def _assessment_row(assessment, *, form=None, saved=False, open_=False) -> dict:
    return {
        "assessment": assessment,
        "form": form
        or forms.AssessmentForm(
            initial={"result": assessment.result, "notes": assessment.notes}, prefix=str(assessment.pk)
        ),
        "evidence_form": forms.AssessmentEvidenceForm(prefix=f"ev-{assessment.pk}"),
        "saved": saved,
        "open": open_ or saved,
    }


def audit_context(request, audit, *, bound=None, action_error=None, evidence_error=None) -> dict:
    assessments = list(control_assessment_list(user=request.user, audit_id=audit.pk).order_by("control__position"))
    assessable = audit.status in ASSESSABLE_AUDIT_STATUSES
    can_assess = allowed(request, compliance_permissions.can_manage_audits) and assessable
    rows = []
    for assessment in assessments:
        form = bound[1] if bound is not None and bound[0] == assessment.pk else None
        row = _assessment_row(assessment, form=form, open_=form is not None)
        if evidence_error is not None and evidence_error[0] == assessment.pk:
            row["evidence_form"], row["open"] = evidence_error[1], True
        rows.append(row)
    today = timezone.localdate()
    findings = finding_list(user=request.user, audit_id=audit.pk).order_by("due_date")
    return {
        "audit": audit,
        "score": audit_score(audit),
        "rows": rows,
        "can_assess": can_assess,
        "can_record_findings": allowed(request, compliance_permissions.can_manage_findings)
        and audit.status != "closed",
        "assessable": assessable,
        "audit_actions": AUDITS.actions_for(audit, request.user, role_refusals=False),
        "error_form": (bound[1] if bound is not None else None) or action_error,
        "findings": [(f, is_overdue(f, today)) for f in findings],
        **feed_context(request, "audit", audit, assessments),
    }


@org_view
def audit_detail(request, pk):
    audit = get_or_404(request, privacy_audit_get, pk=pk)
    return page(request, "dashboard/audit_detail.html", audit_context(request, audit), section="dashboard:compliance")


# What a person reads after an audit's step, by the state it led to.
AUDIT_MESSAGES = {
    AuditStatus.FIELDWORK: "Fieldwork has started: assess each control below.",
    AuditStatus.REPORTING: "The audit is now reporting: every control is assessed.",
    AuditStatus.CLOSED: "The audit is closed; its score of {score}% is frozen for the trend.",
}


@require_POST
@org_view
def audit_action(request, pk):
    return machine_action(
        request,
        machine=AUDITS,
        get=lambda: get_or_404(request, privacy_audit_get, pk=pk),
        service=lambda audit, **step: privacy_audit_act(audit=audit, **step),
        message=lambda audit, action: AUDIT_MESSAGES[audit.status].format(score=audit.score),
        done=lambda audit: reverse("dashboard:audit", args=[audit.pk]),
        refused=lambda audit, form, status: page(
            request,
            "dashboard/audit_detail.html",
            audit_context(request, audit, action_error=form),
            section="dashboard:compliance",
            status=status,
        ),
    )


def _assessment_of_org(request, pk):
    try:
        assessment = control_assessment_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Assessment not found.") from None
    audit = get_or_404(request, privacy_audit_get, pk=assessment.audit_id)
    return assessment, audit


def _control_anchor(audit, assessment) -> str:
    return f"{reverse('dashboard:audit', args=[audit.pk])}#assessment-{assessment.pk}"


@require_POST
@org_view
def assessment_record(request, pk):
    assessment, audit = _assessment_of_org(request, pk)
    form = forms.AssessmentForm(request.POST, prefix=str(assessment.pk))
    status = 400
    if form.is_valid():
        result, status = run_service(
            form,
            lambda: control_assessment_record(
                assessment=assessment,
                by=request.user,
                result=form.cleaned_data["result"],
                notes=form.cleaned_data["notes"],
            ),
        )
        if result is not None:
            if request.htmx:
                # The row and, out of band, the audit's score: both change with one assessment.
                assessment = control_assessment_get(user=request.user, pk=pk)
                context = {
                    "row": _assessment_row(assessment, saved=True),
                    "audit": audit,
                    "can_assess": True,
                    "can_record_findings": allowed(request, compliance_permissions.can_manage_findings),
                    "score": audit_score(audit),
                    "oob_score": True,
                }
                return page(request, "dashboard/partials/assessment_row.html", context)
            messages.success(request, f"{assessment.control.ref} recorded as {result.get_result_display().lower()}.")
            return redirect(_control_anchor(audit, assessment))
    if request.htmx:
        context = {"row": _assessment_row(assessment, form=form, open_=True), "audit": audit, "can_assess": True}
        return page(request, "dashboard/partials/assessment_row.html", context, status=status)
    context = audit_context(request, audit, bound=(assessment.pk, form))
    return page(request, "dashboard/audit_detail.html", context, section="dashboard:compliance", status=status)


@require_POST
@org_view
def assessment_evidence_upload(request, pk):
    assessment, audit = _assessment_of_org(request, pk)
    form = forms.AssessmentEvidenceForm(request.POST, request.FILES, prefix=f"ev-{assessment.pk}")
    status = 400
    if form.is_valid():
        evidence, status = run_service(
            form,
            lambda: assessment_evidence_add(assessment=assessment, file=form.cleaned_data["file"], by=request.user),
        )
        if evidence is not None:
            messages.success(request, f"{evidence.name} added to {assessment.control.ref} (SHA-256 {evidence.sha256}).")
            return redirect(_control_anchor(audit, assessment))
    context = audit_context(request, audit, evidence_error=(assessment.pk, form))
    return page(request, "dashboard/audit_detail.html", context, section="dashboard:compliance", status=status)


@org_view
def assessment_evidence_download(request, pk):
    try:
        evidence = assessment_evidence_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Evidence not found.") from None
    if evidence.assessment.audit.organization_id != request.org.pk:
        raise Http404("Not found in this organization.")
    return evidence_response(
        file=evidence.file, filename=evidence.name, content_type=evidence.content_type, sha256=evidence.sha256
    )


# --- findings -----------------------------------------------------------------------------------------------------


def _members(request):
    return list(membership_list(user=request.user, organization=request.org))


@org_view
def finding_new(request, pk):
    audit = get_or_404(request, privacy_audit_get, pk=pk)
    controls = list(audit.framework_version.controls.order_by("position"))
    initial = {"control": request.GET.get("control", "")}
    chosen = next((c for c in controls if c.ref == initial["control"]), None)
    if chosen is not None:
        initial["title"] = f"{chosen.ref}: {chosen.title}"
    form = forms.FindingForm(request.POST or None, initial=initial, memberships=_members(request), controls=controls)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            values = form.cleaned_data
            finding, status = run_service(
                form,
                lambda: finding_create(
                    audit=audit,
                    by=request.user,
                    title=values["title"],
                    severity=values["severity"],
                    owner=values["owner"],
                    due_date=values["due_date"],
                    description=values["description"],
                    control=values["control"] or None,
                ),
            )
            if finding is not None:
                messages.success(request, f"Finding {finding.ref} recorded and assigned to {finding.owner.username}.")
                return redirect("dashboard:finding", pk=finding.pk)
    context = {"audit": audit, "form": form, "control": chosen}
    return page(request, "dashboard/finding_form.html", context, section="dashboard:compliance", status=status)


def finding_context(request, finding, *, action_error=None, action_form=None) -> dict:
    user = request.user
    actions = list(remediation_action_list(user=user, finding_id=finding.pk).order_by("created_at"))
    return {
        "finding": finding,
        "overdue": is_overdue(finding),
        "finding_actions": FINDINGS.actions_for(finding, user, role_refusals=False),
        "remediation": [(a, compliance_permissions.can_complete_action(user, a)[0]) for a in actions],
        "can_add_action": compliance_permissions.can_work_on_finding(user, finding)[0]
        and finding.status in (FindingStatus.OPEN, FindingStatus.REMEDIATING),
        "action_form": action_form or forms.RemediationActionForm(memberships=_members(request)),
        "action_error": action_error,
        **feed_context(request, "finding", finding, actions),
    }


@org_view
def finding_detail(request, pk):
    finding = get_or_404(request, finding_get, pk=pk)
    return page(
        request, "dashboard/finding_detail.html", finding_context(request, finding), section="dashboard:compliance"
    )


def _finding_message(finding) -> str:
    if finding.status == FindingStatus.RISK_ACCEPTED:
        return f"The risk of finding {finding.ref} is accepted until {finding.acceptance_expires_on:%-d %b %Y}."
    if finding.status == FindingStatus.RESOLVED:
        return f"Finding {finding.ref} is resolved; someone other than you verifies the fix."
    return f"Finding {finding.ref} is now {finding.get_status_display().lower()}."


@require_POST
@org_view
def finding_action(request, pk):
    return machine_action(
        request,
        machine=FINDINGS,
        get=lambda: get_or_404(request, finding_get, pk=pk),
        service=lambda finding, **step: finding_act(finding=finding, **step),
        message=lambda finding, action: _finding_message(finding),
        done=lambda finding: reverse("dashboard:finding", args=[finding.pk]),
        refused=lambda finding, form, status: page(
            request,
            "dashboard/finding_detail.html",
            finding_context(request, finding, action_error=form),
            section="dashboard:compliance",
            status=status,
        ),
    )


@require_POST
@org_view
def remediation_action_add(request, pk):
    finding = get_or_404(request, finding_get, pk=pk)
    form = forms.RemediationActionForm(request.POST, memberships=_members(request))
    status = 400
    if form.is_valid():
        values = form.cleaned_data
        action, status = run_service(
            form,
            lambda: remediation_action_create(
                finding=finding,
                by=request.user,
                description=values["description"],
                owner=values["owner"],
                due_date=values["due_date"],
            ),
        )
        if action is not None:
            messages.success(request, f"Remediation action added to {finding.ref} for {action.owner.username}.")
            return redirect("dashboard:finding", pk=finding.pk)
    context = finding_context(request, finding, action_form=form)
    return page(request, "dashboard/finding_detail.html", context, section="dashboard:compliance", status=status)


@require_POST
@org_view
def remediation_action_done(request, pk):
    try:
        action = remediation_action_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Action not found.") from None
    finding = get_or_404(request, finding_get, pk=action.finding_id)
    form = forms.NoteForm(request.POST)
    form.is_valid()
    done, status = run_service(form, lambda: remediation_action_complete(action=action, by=request.user))
    if done is not None:
        open_left = finding_get(user=request.user, pk=finding.pk).open_actions
        left = f" {open_left} still open." if open_left else " No open actions left: the finding can be resolved."
        messages.success(request, f"Action done.{left}")
        return redirect("dashboard:finding", pk=finding.pk)
    context = finding_context(request, finding, action_error=form)
    return page(request, "dashboard/finding_detail.html", context, section="dashboard:compliance", status=status)
