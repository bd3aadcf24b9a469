"""Reads of funding data for a user: always scoped to the user's organizations, with what callers need loaded."""

from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
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
    queryset = Investment.objects.select_related("investor", "owner", "organization").prefetch_related(
        "ethical_criteria"
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
        .values(key, *BRIEF_MILESTONE_FIELDS)
    )
    by_parent: dict = {}
    for row in rows:
        by_parent.setdefault(row.pop(key), []).append(row)
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
