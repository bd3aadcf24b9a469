"""Reads of funding data for a user: always scoped to the user's organizations, with what callers need loaded."""

from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils.module_loading import import_string

from apps.funding.models import (
    Disbursement,
    EthicalCriterion,
    Evidence,
    Funder,
    Grant,
    GrantReport,
    GrantRequirement,
    Investment,
    KpiReading,
    Milestone,
    MilestoneCriterion,
    MilestoneStatus,
)
from apps.tenancy.scoping import get_scoped, scope_to_user

# The milestones shown inside a grant or investment row, as plain rows (see milestones_brief_attach).
BRIEF_MILESTONE_FIELDS = ("id", "title", "amount", "currency", "amount_disbursed", "due_date", "status")


def funder_list(*, user) -> QuerySet:
    return scope_to_user(Funder.objects.prefetch_related("contacts"), user=user)


def funder_get(*, user, pk) -> Funder:
    return get_scoped(Funder.objects.prefetch_related("contacts"), user=user, pk=pk)


def grant_list(*, user) -> QuerySet:
    return scope_to_user(Grant.objects.select_related("funder", "owner"), user=user)


def grant_get(*, user, pk) -> Grant:
    queryset = Grant.objects.select_related("funder", "owner", "organization").prefetch_related(
        "reports", "requirements"
    )
    return milestones_brief_attach([get_scoped(queryset, user=user, pk=pk)])[0]


def grant_report_get(*, user, pk) -> GrantReport:
    return get_scoped(
        GrantReport.objects.select_related("grant__organization"), user=user, org_field="grant__organization", pk=pk
    )


def grant_requirement_get(*, user, pk) -> GrantRequirement:
    return get_scoped(
        GrantRequirement.objects.select_related("grant__organization"),
        user=user,
        org_field="grant__organization",
        pk=pk,
    )


def investment_list(*, user) -> QuerySet:
    return scope_to_user(
        Investment.objects.select_related("investor", "owner").prefetch_related("ethical_criteria"),
        user=user,
    )


def investment_get(*, user, pk) -> Investment:
    criteria = EthicalCriterion.objects.select_related("assessed_by").order_by("created_at")
    queryset = Investment.objects.select_related("investor", "owner", "organization").prefetch_related(
        Prefetch("ethical_criteria", criteria)
    )
    return milestones_brief_attach([get_scoped(queryset, user=user, pk=pk)])[0]


def ethical_criterion_get(*, user, pk) -> EthicalCriterion:
    return get_scoped(
        EthicalCriterion.objects.select_related("investment__organization"),
        user=user,
        org_field="investment__organization",
        pk=pk,
    )


def milestone_list(*, user) -> QuerySet:
    return scope_to_user(
        Milestone.objects.select_related("grant__funder", "investment__investor").prefetch_related("criteria"),
        user=user,
    )


def milestone_get(*, user, pk) -> Milestone:
    queryset = Milestone.objects.select_related(
        "grant__funder", "investment__investor", "organization"
    ).prefetch_related("criteria", "evidence", "approvals__user", "disbursements")
    return get_scoped(queryset, user=user, pk=pk)


def criterion_get(*, user, pk) -> MilestoneCriterion:
    return get_scoped(
        MilestoneCriterion.objects.select_related("milestone__organization"),
        user=user,
        org_field="milestone__organization",
        pk=pk,
    )


def evidence_get(*, user, pk) -> Evidence:
    return get_scoped(
        Evidence.objects.select_related("milestone"), user=user, org_field="milestone__organization", pk=pk
    )


def disbursement_list(*, user) -> QuerySet:
    return scope_to_user(Disbursement.objects.select_related("milestone"), user=user)


def disbursement_get(*, user, pk) -> Disbursement:
    return get_scoped(Disbursement.objects.select_related("milestone"), user=user, pk=pk)


def kpi_reading_list(*, user) -> QuerySet:
    return scope_to_user(KpiReading.objects.all(), user=user)


def milestones_brief_attach(parents: list) -> list:
    """Loads the milestones of a page of grants (or of investments) in one query, as plain rows in due order,
    onto each parent's `brief_milestones`. Rows rather than model instances: a list page carries hundreds."""
    if not parents:
        return parents
    key = "grant_id" if isinstance(parents[0], Grant) else "investment_id"
    rows = (
        Milestone.objects.filter(**{f"{key}__in": [parent.pk for parent in parents]})
        .order_by("due_date", "created_at")
        .values_list(key, *BRIEF_MILESTONE_FIELDS)
    )
    by_parent: dict = {}
    for parent_id, *values in rows:  # tuples made into dicts here: Django's .values() costs twice as much per row
        by_parent.setdefault(parent_id, []).append(dict(zip(BRIEF_MILESTONE_FIELDS, values, strict=True)))
    for parent in parents:
        parent.brief_milestones = by_parent.get(parent.pk, [])
    # The escrow app adds what the contract still holds for each parent (one query per page), as `escrowed`.
    for path in getattr(settings, "FUNDING_BRIEF_HOOKS", []):
        import_string(path)(parents)
    return parents


def funding_summary(parent: Grant | Investment) -> dict:
    """Budget vs. committed (planned milestones) vs. released vs. disbursed, from `milestones_brief_attach`."""
    milestones = parent.brief_milestones
    committed = sum((m["amount"] for m in milestones), Decimal(0))
    released = sum((m["amount"] for m in milestones if m["status"] == MilestoneStatus.RELEASED), Decimal(0))
    released_unpaid = sum(
        (m["amount"] - m["amount_disbursed"] for m in milestones if m["status"] == MilestoneStatus.RELEASED), Decimal(0)
    )
    budget = parent.budget
    return {
        "currency": parent.currency,
        "budget": budget,
        "committed": committed,
        "released": released,
        "released_unpaid": released_unpaid,
        "escrowed": getattr(parent, "escrowed", Decimal(0)),
        "disbursed": parent.amount_disbursed,
        "uncommitted": budget - committed,
        "undisbursed": budget - parent.amount_disbursed,
    }


# --- money against plan -----------------------------------------------------------------------------------------


def budget_lines_with_figures(queryset: QuerySet) -> QuerySet:
    """Annotates each line with `committed` (net disbursements tagged to it) and `actual` (net expenses)."""
    from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    from apps.funding.models import Disbursement, Expense

    def total(model):
        rows = model.objects.filter(budget_line=OuterRef("pk")).order_by().values("budget_line")
        return Coalesce(
            Subquery(rows.annotate(total=Sum("amount")).values("total")[:1]),
            Value(Decimal(0)),
            output_field=DecimalField(max_digits=18, decimal_places=2),
        )

    return queryset.annotate(committed=total(Disbursement), actual=total(Expense))


def budget_line_list(*, user) -> QuerySet:
    from apps.funding.models import BudgetLine

    return budget_lines_with_figures(scope_to_user(BudgetLine.objects.select_related("grant", "investment"), user=user))


def budget_line_get(*, user, pk):
    from apps.funding.models import BudgetLine

    queryset = budget_lines_with_figures(BudgetLine.objects.select_related("grant", "investment", "organization"))
    return get_scoped(queryset, user=user, pk=pk)


def expense_list(*, user) -> QuerySet:
    from apps.funding.models import Expense

    return scope_to_user(Expense.objects.select_related("budget_line", "recorded_by"), user=user)


def expense_get(*, user, pk):
    from apps.funding.models import Expense

    return get_scoped(Expense.objects.select_related("budget_line", "organization"), user=user, pk=pk)


def budget_amendment_list(*, user) -> QuerySet:
    from apps.funding.models import BudgetAmendment

    return scope_to_user(BudgetAmendment.objects.select_related("from_line", "to_line"), user=user)


def budget_amendment_get(*, user, pk):
    from apps.funding.models import BudgetAmendment

    return get_scoped(
        BudgetAmendment.objects.select_related("from_line__grant", "from_line__investment", "to_line", "organization"),
        user=user,
        pk=pk,
    )


def reporting_period_list(*, user) -> QuerySet:
    from apps.funding.models import ReportingPeriod

    return scope_to_user(ReportingPeriod.objects.select_related("grant").prefetch_related("attachments"), user=user)


def reporting_period_get(*, user, pk):
    from apps.funding.models import ReportingPeriod

    return get_scoped(
        ReportingPeriod.objects.select_related("grant", "organization").prefetch_related("attachments"),
        user=user,
        pk=pk,
    )


def _sums_by_line(queryset, date_field: str, start=None, end=None) -> dict:
    from django.db.models import Sum

    if start is not None:
        queryset = queryset.filter(**{f"{date_field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{date_field}__lte": end})
    rows = queryset.values("budget_line_id").annotate(total=Sum("amount"))
    return {row["budget_line_id"]: row["total"] for row in rows}


def budget_overview(*, parent, start=None, end=None) -> list[dict]:
    """Per budget line of a grant or investment: the budget (as amended), what is committed (disbursements tagged
    to the line, voids netted) and what is actual (expenses tagged to it, voids netted), within [start, end] when
    given; the budget and the remaining are always the whole line's. Two queries, whatever the number of lines."""
    from apps.funding.models import Disbursement, Expense, Grant

    lines = list(parent.budget_lines.order_by("category", "name"))
    ids = [line.pk for line in lines]
    committed = _sums_by_line(Disbursement.objects.filter(budget_line_id__in=ids), "paid_on", start, end)
    actual = _sums_by_line(Expense.objects.filter(budget_line_id__in=ids), "spent_on", start, end)
    spent = (
        actual
        if start is None and end is None
        else _sums_by_line(Expense.objects.filter(budget_line_id__in=ids), "spent_on")
    )
    kind = "grant" if isinstance(parent, Grant) else "investment"
    return [
        {
            "id": line.pk,
            kind: parent.pk,
            "category": line.category,
            "name": line.name,
            "currency": line.currency,
            "budget_original": line.amount_original,
            "budget": line.amount,
            "committed": committed.get(line.pk, Decimal(0)),
            "actual": actual.get(line.pk, Decimal(0)),
            "remaining": line.amount - spent.get(line.pk, Decimal(0)),
        }
        for line in lines
    ]


def period_financials(*, grant, start, end) -> dict:
    """The financial part of a period's report, from the ledger: each line's figures within the period and the
    line's remaining budget, as plain strings (stored with the report as it was submitted)."""
    rows = budget_overview(parent=grant, start=start, end=end)
    totals = {key: sum((row[key] for row in rows), Decimal(0)) for key in ("budget", "committed", "actual")}
    return {
        "currency": grant.currency,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "lines": [{k: str(v) for k, v in row.items() if k not in ("grant",)} for row in rows],
        "totals": {key: str(value) for key, value in totals.items()},
    }


def kpi_snapshot(*, organization, start, end) -> list[dict]:
    """The KPI readings whose period lies within [start, end], oldest first, as plain strings."""
    readings = KpiReading.objects.filter(organization=organization, period_start__gte=start, period_end__lte=end)
    return [
        {
            "metric": r.metric,
            "value": str(r.value),
            "unit": r.unit,
            "period_start": r.period_start.isoformat(),
            "period_end": r.period_end.isoformat(),
            "source": r.source,
        }
        for r in readings.order_by("period_end", "metric", "source")
    ]


def period_attachment_get(*, user, pk):
    from apps.funding.models import PeriodAttachment

    return get_scoped(
        PeriodAttachment.objects.select_related("period__organization"),
        user=user,
        org_field="period__organization",
        pk=pk,
    )
