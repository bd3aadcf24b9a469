"""The grant page's budget and reporting work, for the person looking: expenses and their voids, re-allocations
between lines and the funder's decision, the reporting periods and their interim reports. Each row carries the
actions this person may take, read from the machines (apps/funding/budget_machines.py); each form is a blank one,
or the bound one a refused post put back with the service's message (apps/dashboard/views/budget.py)."""

from django.db.models import Exists, OuterRef

from apps.dashboard import forms
from apps.dashboard.views.common import allowed
from apps.funding.budget_machines import BUDGET_AMENDMENTS, REPORTING_PERIODS
from apps.funding.models import Expense, PeriodStatus
from apps.funding.permissions import can_manage_budget, can_submit_period_report
from apps.funding.selectors import budget_amendment_list, expense_list, reporting_period_list

SHOWN = 50  # expenses and re-allocations listed, the latest first; the API and its CSV have them all


def period_ids(period) -> str:
    """Each period's forms have ids of their own: several periods are on one page."""
    return f"period-{period.pk}-%s"


def line_options(grant) -> list[dict]:
    """The grant's lines as the forms offer them (the page takes them from its plan, already read)."""
    return [
        {"id": line.pk, "name": line.name, "budget": line.amount, "currency": line.currency}
        for line in grant.budget_lines.order_by("category", "name")
    ]


def budget_work_context(request, grant, plan: dict, bound: dict | None = None) -> dict:
    """`plan` is the page's plan_sections: a grant without lines or periods costs no query here."""
    bound = bound or {}
    user = request.user
    lines = plan.get("budget_lines") or []
    expenses, amendments, periods = [], [], []
    if lines:
        expenses = list(
            expense_list(user=user)
            .filter(budget_line__grant=grant)
            .select_related("budget_line")
            .annotate(voided=Exists(Expense.objects.filter(voids=OuterRef("pk"))))
            .order_by("-spent_on", "-created_at")[:SHOWN]
        )
    if len(lines) > 1:
        amendments = list(
            budget_amendment_list(user=user)
            .filter(from_line__grant=grant)
            .select_related("requested_by", "decided_by")
            .order_by("-created_at")[:SHOWN]
        )
    if plan.get("reporting_periods"):
        periods = list(
            reporting_period_list(user=user)
            .filter(grant=grant)
            .select_related("submitted_by", "decided_by")
            .order_by("start")
        )
    can_manage = allowed(request, can_manage_budget)
    can_submit = allowed(request, can_submit_period_report)
    period_rows = []
    for period in periods:
        actions = REPORTING_PERIODS.actions_for(period, user, role_refusals=False)
        submit = next((a for a in actions if a.name == "submit"), None)
        open_for_writing = can_submit and period.status in (PeriodStatus.DUE, PeriodStatus.RETURNED)
        period_rows.append(
            {
                "period": period,
                "actions": [a for a in actions if a.name != "submit"],
                "submit": submit,
                "form": bound.get(f"period-{period.pk}")
                or (
                    forms.PeriodSubmitForm(initial={"narrative": period.narrative}, auto_id=period_ids(period))
                    if open_for_writing
                    else None
                ),
                "attachment_form": forms.PeriodAttachmentForm(auto_id=period_ids(period)) if open_for_writing else None,
            }
        )
    return {
        "lines": lines,
        "expenses": [
            {
                "expense": e,
                "voided": e.voided,
                "can_void": can_manage and e.voids_id is None and not e.voided,
            }
            for e in expenses
        ],
        "amendments": [
            {"amendment": a, "actions": BUDGET_AMENDMENTS.actions_for(a, user, role_refusals=False)} for a in amendments
        ],
        "periods": period_rows,
        "can_manage": can_manage,
        "line_form": bound.get("line") or (forms.BudgetLineForm() if can_manage else None),
        "expense_form": bound.get("expense") or (forms.ExpenseForm(lines=lines) if can_manage and lines else None),
        "amendment_form": bound.get("amendment")
        or (forms.AmendmentForm(lines=lines) if can_manage and len(lines) > 1 else None),
        "schedule_form": bound.get("schedule") or (forms.ScheduleForm() if can_manage and not periods else None),
        "error": bound.get("error"),
    }
