"""Budget and reporting on the grant page: add a budget line, record an expense or void one, propose moving money
between lines (applied at once, or waiting for the funder's decision where the grant asks for it), set the
reporting schedule, write and submit a period's report with its attachments, and the funder's approval or return.
Each post calls the funding service (which runs the machine); a refusal re-renders the grant page with the
service's message beside the field (status 4xx), a success redirects back with a message (post-redirect-get)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.dashboard import forms
from apps.dashboard.budget_work import line_options, period_ids
from apps.dashboard.context import org_view
from apps.dashboard.templatetags.dashboard_tags import money
from apps.dashboard.views.common import get_or_404, machine_action, page, run_service
from apps.dashboard.views.funding import grant_context
from apps.funding.budget_machines import BUDGET_AMENDMENTS, REPORTING_PERIODS
from apps.funding.models import AmendmentStatus
from apps.funding.selectors import (
    budget_amendment_get,
    budget_line_get,
    expense_get,
    grant_get,
    reporting_period_get,
)
from apps.funding.services import budget as budget_services
from apps.funding.services import reporting as reporting_services


def _grant_page(request, grant, status: int, **bound):
    grant = _grant_of(request, grant.pk)  # read again, as the page reads it, after the refused change
    context = grant_context(request, grant, budget_forms=bound)
    return page(request, "dashboard/grant_detail.html", context, section="dashboard:grants", status=status)


def _work_url(grant) -> str:
    return reverse("dashboard:grant", args=[grant.pk]) + "#budget-work"


def _post(request, grant, key: str, form, call, message):
    """Runs `call(cleaned_data)` when the form parses; success: a message and back to the section."""
    status = 400
    if form.is_valid():
        result, status = run_service(form, lambda: call(form.cleaned_data))
        if result is not None:
            messages.success(request, message(result))
            return redirect(_work_url(grant))
    return _grant_page(request, grant, status, **{key: form})


def _grant_of(request, pk):
    return get_or_404(request, grant_get, pk=pk)


def _line_of(request, grant, line_id: str):
    line = get_or_404(request, budget_line_get, pk=line_id)
    if line.grant_id != grant.pk:
        raise Http404("Not a line of this grant.")
    return line


@require_POST
@org_view
def budget_line_add(request, pk):
    grant = _grant_of(request, pk)
    return _post(
        request,
        grant,
        "line",
        forms.BudgetLineForm(request.POST),
        lambda data: budget_services.budget_line_add(parent=grant, by=request.user, **data),
        lambda line: f"Budget line “{line.name}” added: {money(line.amount)} {line.currency}.",
    )


@require_POST
@org_view
def expense_add(request, pk):
    grant = _grant_of(request, pk)
    lines = line_options(grant)

    def record(data):
        line = _line_of(request, grant, data.pop("budget_line"))
        return budget_services.expense_record(budget_line=line, by=request.user, **data)

    return _post(
        request,
        grant,
        "expense",
        forms.ExpenseForm(request.POST, lines=lines),
        record,
        lambda e: f"Expense of {money(e.amount)} {e.currency} recorded on “{e.budget_line.name}”.",
    )


@require_POST
@org_view
def expense_void(request, pk):
    expense = get_or_404(request, expense_get, pk=pk)
    grant = expense.budget_line.grant
    if grant is None:
        raise Http404("Not an expense of a grant.")
    return _post(
        request,
        grant,
        "error",
        forms.ReasonForm(request.POST),
        lambda data: budget_services.expense_void(expense=expense, by=request.user, reason=data["reason"]),
        lambda void: f"Expense voided by an entry of {money(void.amount)} {void.currency}; both stay on record.",
    )


@require_POST
@org_view
def amendment_propose(request, pk):
    grant = _grant_of(request, pk)
    lines = line_options(grant)

    def propose(data):
        return budget_services.budget_amendment_propose(
            from_line=_line_of(request, grant, data["from_line"]),
            to_line=_line_of(request, grant, data["to_line"]),
            by=request.user,
            amount=data["amount"],
            reason=data["reason"],
        )

    return _post(
        request,
        grant,
        "amendment",
        forms.AmendmentForm(request.POST, lines=lines),
        propose,
        lambda a: (
            f"{money(a.amount)} {a.from_line.currency} moved from “{a.from_line.name}” to “{a.to_line.name}”."
            if a.status == AmendmentStatus.APPLIED
            else f"Moving {money(a.amount)} {a.from_line.currency} from “{a.from_line.name}” to “{a.to_line.name}” "
            "now waits for the funder."
        ),
    )


@require_POST
@org_view
def amendment_action(request, pk):
    def get():
        amendment = get_or_404(request, budget_amendment_get, pk=pk)
        if amendment.from_line.grant is None:
            raise Http404("Not a re-allocation of a grant.")
        return amendment

    return machine_action(
        request,
        machine=BUDGET_AMENDMENTS,
        get=get,
        service=lambda amendment, **step: budget_services.budget_amendment_act(amendment=amendment, **step),
        message=lambda amendment, action: f"Re-allocation {amendment.get_status_display().lower()}.",
        done=lambda amendment: _work_url(amendment.from_line.grant),
        refused=lambda amendment, form, status: _grant_page(request, amendment.from_line.grant, status, error=form),
    )


@require_POST
@org_view
def schedule_set(request, pk):
    grant = _grant_of(request, pk)
    return _post(
        request,
        grant,
        "schedule",
        forms.ScheduleForm(request.POST),
        lambda data: reporting_services.reporting_schedule_set(grant=grant, by=request.user, **data),
        lambda periods: f"{len(periods)} reporting period{'s' if len(periods) != 1 else ''} scheduled.",
    )


@require_POST
@org_view
def period_action(request, pk):
    """Submitting posts the narrative (its own form); the funder's approval or return is a machine action."""
    if request.POST.get("action") != "submit":
        return machine_action(
            request,
            machine=REPORTING_PERIODS,
            get=lambda: get_or_404(request, reporting_period_get, pk=pk),
            service=lambda period, **step: reporting_services.period_report_act(period=period, **step),
            message=lambda p, action: (
                f"The report for {p.start:%-d %b %Y} to {p.end:%-d %b %Y} is {p.get_status_display().lower()}."
            ),
            done=lambda period: _work_url(period.grant),
            refused=lambda period, form, status: _grant_page(request, period.grant, status, error=form),
        )
    period = get_or_404(request, reporting_period_get, pk=pk)
    return _post(
        request,
        period.grant,
        f"period-{period.pk}",
        forms.PeriodSubmitForm(request.POST, auto_id=period_ids(period)),
        lambda data: reporting_services.period_report_submit(
            period=period, by=request.user, narrative=data["narrative"]
        ),
        lambda p: f"The report for {p.start:%-d %b %Y} to {p.end:%-d %b %Y} is {p.get_status_display().lower()}.",
    )


@require_POST
@org_view
def period_attachment_add(request, pk):
    period = get_or_404(request, reporting_period_get, pk=pk)
    form = forms.PeriodAttachmentForm(request.POST, request.FILES)
    return _post(
        request,
        period.grant,
        "error",
        form,
        lambda data: reporting_services.period_attachment_add(period=period, by=request.user, upload=data["file"]),
        lambda a: f"“{a.original_name}” attached to the report for {period.start:%-d %b %Y} to {period.end:%-d %b %Y}.",
    )
