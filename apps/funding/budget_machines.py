"""The state machines of money against plan, declared once (see apps/core/transitions.py and docs/economics.md):

- budget amendments: proposed → applied (finance, where no funder approval is needed; or the funder's approval)
                              ↘ rejected (the funder, with a reason)
- reporting periods: due → submitted → approved, or → returned (the funder's comments) → submitted again

Lock order: the grant or investment, the two budget lines (by id), then the amendment; the audit chain head last.
"""

from decimal import Decimal

from django.db.models import Sum

from apps.core.errors import Conflict, PermissionDenied
from apps.core.transitions import Machine, Transition, change_fields
from apps.funding import permissions as p
from apps.funding.models import (
    AmendmentStatus,
    BudgetAmendment,
    BudgetLine,
    Grant,
    Investment,
    PeriodStatus,
    ReportingPeriod,
)

A, P = AmendmentStatus, PeriodStatus


def _amendment_locks(amendment: BudgetAmendment) -> list:
    line = amendment.from_line
    parent = (Grant, line.grant_id) if line.grant_id else (Investment, line.investment_id)
    lines = sorted([amendment.from_line_id, amendment.to_line_id], key=str)
    return [parent, *((BudgetLine, pk) for pk in lines)]


def line_spent(line: BudgetLine) -> Decimal:
    """What a line has already used: its net expenses (voids count against them)."""
    return line.expenses.aggregate(total=Sum("amount"))["total"] or Decimal(0)


def _needs_funder(amendment: BudgetAmendment) -> bool:
    return amendment.from_line.parent.reallocation_needs_funder_approval


def _no_funder_needed(amendment: BudgetAmendment, by, params: dict) -> None:
    if _needs_funder(amendment):
        raise Conflict("Re-allocations of this budget need the funder's approval.")


def _funder_needed(amendment: BudgetAmendment, by, params: dict) -> None:
    if not _needs_funder(amendment):
        raise Conflict("This budget's re-allocations are applied by finance; no funder approval is asked.")


def _not_requester(amendment: BudgetAmendment, by, params: dict) -> None:
    if by is not None and amendment.requested_by_id == by.pk:
        raise PermissionDenied("You asked for this re-allocation: the funder must decide it.")


def _move_money(amendment: BudgetAmendment, by, params: dict) -> None:
    """Moves the amount between the (locked) lines; the source keeps at least what it has already spent."""
    source = BudgetLine.objects.get(pk=amendment.from_line_id)
    target = BudgetLine.objects.get(pk=amendment.to_line_id)
    spent = line_spent(source)
    if source.amount - amendment.amount < spent:
        raise Conflict(
            f"'{source.name}' has {source.amount} {source.currency} of which {spent} is spent: at most "
            f"{max(source.amount - spent, Decimal(0))} can move."
        )
    source.amount -= amendment.amount
    target.amount += amendment.amount
    source.save(update_fields=["amount", "updated_at"])
    target.save(update_fields=["amount", "updated_at"])
    params.setdefault("_audit_after", {}).update(
        {
            "from_line": {"name": source.name, "amount": source.amount},
            "to_line": {"name": target.name, "amount": target.amount},
            "moved": amendment.amount,
        }
    )
    from django.utils import timezone

    change_fields(params, amendment, {"decided_by_id": getattr(by, "pk", None), "decided_at": timezone.now()})


BUDGET_AMENDMENTS = Machine(
    model=BudgetAmendment,
    audit_action="budget.amendment_changed",
    lock_first=_amendment_locks,
    transitions=[
        Transition(
            "apply",
            (A.PROPOSED,),
            A.APPLIED,
            p.can_manage_budget,
            "apply",
            "Apply the re-allocation",
            guards=(_no_funder_needed,),
            record=_move_money,
        ),
        Transition(
            "approve",
            (A.PROPOSED,),
            A.APPLIED,
            p.can_decide_as_funder,
            "approve",
            "Approve the re-allocation",
            guards=(_funder_needed, _not_requester),
            record=_move_money,
        ),
        Transition(
            "reject",
            (A.PROPOSED,),
            A.REJECTED,
            p.can_decide_as_funder,
            "reject",
            "Reject the re-allocation",
            guards=(_funder_needed,),
            reason="required",
        ),
    ],
)


def _period_locks(period: ReportingPeriod) -> list:
    return [(Grant, period.grant_id)]


def _record_submission(period: ReportingPeriod, by, params: dict) -> None:
    from django.utils import timezone

    from apps.funding.selectors import kpi_snapshot, period_financials

    narrative = (params.get("narrative") or period.narrative or "").strip()
    if not narrative:
        from apps.core.errors import ValidationFailed

        raise ValidationFailed.for_field("narrative", "Write the period's narrative before submitting.")
    change_fields(
        params,
        period,
        {
            "narrative": narrative,
            "financial": period_financials(grant=period.grant, start=period.start, end=period.end),
            "kpi_snapshot": kpi_snapshot(organization=period.organization, start=period.start, end=period.end),
            "submitted_by_id": getattr(by, "pk", None),
            "submitted_at": timezone.now(),
        },
    )
    # The audit event keeps the figures, not the narrative's full text.
    params["_audit_after"].pop("narrative", None)
    params["_audit_before"].pop("narrative", None)


def _record_decision(period: ReportingPeriod, by, params: dict) -> None:
    from django.utils import timezone

    change_fields(params, period, {"decided_by_id": getattr(by, "pk", None), "decided_at": timezone.now()})


REPORTING_PERIODS = Machine(
    model=ReportingPeriod,
    audit_action="reporting_period.status_changed",
    lock_first=_period_locks,
    subject=lambda period: f"the report for {period.start}..{period.end}",
    transitions=[
        Transition(
            "submit",
            (P.DUE, P.RETURNED),
            P.SUBMITTED,
            p.can_submit_period_report,
            "submit",
            "Submit the report",
            record=_record_submission,
        ),
        Transition(
            "approve",
            (P.SUBMITTED,),
            P.APPROVED,
            p.can_decide_as_funder,
            "approve",
            "Approve the report",
            record=_record_decision,
            confirm="Approve this report? Tranches waiting for it may then be released.",
        ),
        Transition(
            "return",
            (P.SUBMITTED,),
            P.RETURNED,
            p.can_decide_as_funder,
            "return",
            "Return with comments",
            record=_record_decision,
            reason="required",
        ),
    ],
)
