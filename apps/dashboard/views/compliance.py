"""Compliance: audits with their progress and score, findings by severity and age, and assessing controls."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.compliance import permissions as compliance_permissions
from apps.compliance.machines import AUDITS
from apps.compliance.models import ASSESSABLE_AUDIT_STATUSES, Severity
from apps.compliance.selectors import audit_score, control_assessment_get, control_assessment_list, privacy_audit_get
from apps.compliance.services.audits import control_assessment_record, privacy_audit_act
from apps.core.errors import NotFound
from apps.dashboard import forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.views.common import allowed, get_or_404, page, run_service


@org_view
def compliance(request):
    user, org = request.user, request.org
    severity = request.GET.get("severity", "")
    context = {
        "scores": selectors.compliance_scores(user=user, org=org),
        "audits": list(selectors.audits_of_org(user=user, org=org)),
        "findings_summary": selectors.findings_summary(user=user, org=org),
        "findings": list(selectors.findings_of_org(user=user, org=org, severity=severity)[:50]),
        "severity": severity,
        "severities": Severity.choices,
    }
    return page(request, "dashboard/compliance.html", context, section="dashboard:compliance")


def audit_context(request, audit, *, bound=None, action_error=None) -> dict:
    assessments = list(control_assessment_list(user=request.user, audit_id=audit.pk).order_by("control__position"))
    assessable = audit.status in ASSESSABLE_AUDIT_STATUSES
    can_assess = allowed(request, compliance_permissions.can_manage_audits) and assessable
    rows = []
    for assessment in assessments:
        form = bound if bound is not None and bound[0] == assessment.pk else None
        rows.append(
            {
                "assessment": assessment,
                "form": form[1]
                if form
                else forms.AssessmentForm(
                    initial={"result": assessment.result, "notes": assessment.notes}, prefix=str(assessment.pk)
                ),
            }
        )
    return {
        "audit": audit,
        "score": audit_score(audit),
        "rows": rows,
        "can_assess": can_assess,
        "assessable": assessable,
        "audit_actions": AUDITS.actions_for(audit, request.user, role_refusals=False),
        "error_form": bound[1] if bound is not None else action_error,
    }


@org_view
def audit_detail(request, pk):
    audit = get_or_404(request, privacy_audit_get, pk=pk)
    return page(request, "dashboard/audit_detail.html", audit_context(request, audit), section="dashboard:compliance")


@require_POST
@org_view
def audit_action(request, pk):
    audit = get_or_404(request, privacy_audit_get, pk=pk)
    action = request.POST.get("action", "")
    if action not in AUDITS.by_name:
        raise Http404("Unknown action.")
    form = forms.NoteForm(request.POST)
    form.is_valid()
    result, status = run_service(form, lambda: privacy_audit_act(audit=audit, by=request.user, action=action))
    if result is not None:
        messages.success(request, f"The audit is now {result.get_status_display().lower()}.")
        return redirect("dashboard:audit", pk=audit.pk)
    audit = get_or_404(request, privacy_audit_get, pk=pk)
    context = audit_context(request, audit, action_error=form)
    return page(request, "dashboard/audit_detail.html", context, section="dashboard:compliance", status=status)


@require_POST
@org_view
def assessment_record(request, pk):
    try:
        assessment = control_assessment_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Assessment not found.") from None
    audit = get_or_404(request, privacy_audit_get, pk=assessment.audit_id)
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
                row = {"assessment": result, "form": form, "saved": True}
                return page(
                    request, "dashboard/partials/assessment_row.html", {"row": row, "audit": audit, "can_assess": True}
                )
            messages.success(request, f"{assessment.control.ref} recorded.")
            return redirect("dashboard:audit", pk=audit.pk)
    if request.htmx:
        return page(
            request,
            "dashboard/partials/assessment_row.html",
            {"row": {"assessment": assessment, "form": form}, "audit": audit, "can_assess": True},
            status=status,
        )
    context = audit_context(request, audit, bound=(assessment.pk, form))
    return page(request, "dashboard/audit_detail.html", context, section="dashboard:compliance", status=status)
