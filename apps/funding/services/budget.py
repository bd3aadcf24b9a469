"""Budget lines of grants and investments, the expenses recorded against them, and re-allocations between them.

Nothing about money is edited or deleted: a line's budget moves only by an amendment (audited, with the funder's
approval where the grant or investment asks for it), and a wrong expense is voided by a compensating entry.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.funding.budget_machines import BUDGET_AMENDMENTS
from apps.funding.models import (
    BudgetAmendment,
    BudgetCategory,
    BudgetLine,
    Expense,
    Grant,
    GrantStatus,
    Investment,
    InvestmentStatus,
)
from apps.funding.permissions import can_manage_budget
from apps.funding.services.common import check, clean_date, clean_text

CLOSED_PARENT_STATUSES = {GrantStatus.REJECTED, GrantStatus.CLOSED, InvestmentStatus.CLOSED, InvestmentStatus.WITHDRAWN}


def _lock_parent(parent: Grant | Investment) -> Grant | Investment:
    return type(parent).objects.select_for_update().get(pk=parent.pk)


def budget_line_add(
    *, parent: Grant | Investment, by, category: str, name: str, amount, currency: str | None = None
) -> BudgetLine:
    """A new line of the parent's budget, in its currency; the lines together stay within the parent's budget."""
    check(can_manage_budget, by, parent.organization)
    if category not in BudgetCategory.values:
        raise ValidationFailed.for_field("category", f"Choose one of: {', '.join(BudgetCategory.values)}.")
    name = clean_text(name, field="name", max_length=200)
    amount = clean_amount(amount, field="amount", allow_zero=True)
    if currency not in (None, "") and clean_currency(currency) != parent.currency:
        raise ValidationFailed.for_field("currency", f"Budget lines are in the parent's currency, {parent.currency}.")
    with transaction.atomic():
        parent = _lock_parent(parent)
        if parent.status in CLOSED_PARENT_STATUSES:
            raise Conflict(f"This {parent._meta.verbose_name} is {parent.status}: its budget no longer changes.")
        planned = sum((line.amount for line in parent.budget_lines.all()), amount)
        if planned > parent.budget:
            raise ValidationFailed.for_field(
                "amount",
                f"Budget lines would total {planned} {parent.currency}, more than the budget of {parent.budget}.",
            )
        kind = "grant" if isinstance(parent, Grant) else "investment"
        try:
            with transaction.atomic():
                line = BudgetLine.objects.create(
                    organization=parent.organization,
                    category=category,
                    name=name,
                    currency=parent.currency,
                    amount_original=amount,
                    amount=amount,
                    **{kind: parent},
                )
        except IntegrityError:
            raise ValidationFailed.for_field("name", f"This {kind} already has a budget line named '{name}'.") from None
        audit_record(
            action="budget.line_added",
            actor=by,
            organization=parent.organization,
            obj=line,
            after={kind: str(parent.pk), "category": category, "name": name, "amount": amount},
        )
    return line


def expense_record(
    *, budget_line: BudgetLine, by, amount, spent_on, description: str, reference: str = "", currency=None
) -> Expense:
    """Money spent from a line, in the line's currency, dated within the parent's period (grants) and not ahead."""
    organization = budget_line.organization
    check(can_manage_budget, by, organization)
    amount = clean_amount(amount, field="amount")
    if currency not in (None, "") and clean_currency(currency) != budget_line.currency:
        raise ValidationFailed.for_field("currency", f"The budget line is in {budget_line.currency}.")
    spent_on = clean_date(spent_on, field="spent_on")
    if spent_on > timezone.localdate():
        raise ValidationFailed.for_field("spent_on", "An expense cannot be dated in the future.")
    grant = budget_line.grant
    if grant is not None and not grant.period_start <= spent_on <= grant.period_end:
        raise ValidationFailed.for_field(
            "spent_on", f"Expenses fall within the grant period {grant.period_start} to {grant.period_end}."
        )
    with transaction.atomic():
        expense = Expense.objects.create(
            organization=organization,
            budget_line=budget_line,
            amount=amount,
            currency=budget_line.currency,
            spent_on=spent_on,
            description=clean_text(description, field="description"),
            reference=clean_text(reference, field="reference", required=False, max_length=200),
            recorded_by=by,
        )
        audit_record(
            action="budget.expense_recorded",
            actor=by,
            organization=organization,
            obj=expense,
            after={
                "budget_line": str(budget_line.pk),
                "amount": amount,
                "spent_on": spent_on,
                "reference": expense.reference,
            },
        )
    return expense


def expense_void(*, expense: Expense, by, reason: str) -> Expense:
    """Cancels an expense recorded in error with an entry of the opposite amount; both stay and show."""
    check(can_manage_budget, by, expense.organization)
    reason = clean_text(reason, field="reason", max_length=2000)
    with transaction.atomic():
        expense = Expense.objects.select_for_update().select_related("budget_line").get(pk=expense.pk)
        if expense.voids_id is not None:
            raise Conflict("This entry is itself a void; record a new expense instead.")
        if Expense.objects.filter(voids=expense).exists():
            raise Conflict("This expense is already voided.")
        void = Expense.objects.create(
            organization=expense.organization,
            budget_line=expense.budget_line,
            amount=-expense.amount,
            currency=expense.currency,
            spent_on=timezone.localdate(),
            description=f"Void of: {expense.description}"[:300],
            reference=expense.reference,
            recorded_by=by,
            voids=expense,
            reason=reason,
        )
        audit_record(
            action="budget.expense_voided",
            actor=by,
            organization=expense.organization,
            obj=expense,
            before={"amount": expense.amount, "spent_on": expense.spent_on},
            after={"void": str(void.pk), "reason": reason},
        )
    return void


def budget_amendment_propose(*, from_line: BudgetLine, to_line: BudgetLine, by, amount, reason: str) -> BudgetAmendment:
    """Asks to move `amount` between two lines of one budget. Where no funder approval is needed, finance's
    request applies at once (the `apply` transition, in the same transaction); otherwise it waits for the funder."""
    check(can_manage_budget, by, from_line.organization)
    amount = clean_amount(amount, field="amount")
    reason = clean_text(reason, field="reason", max_length=2000)
    if from_line.pk == to_line.pk:
        raise ValidationFailed.for_field("to_line", "Choose another line than the one the money comes from.")
    if (from_line.grant_id, from_line.investment_id) != (to_line.grant_id, to_line.investment_id):
        raise ValidationFailed.for_field("to_line", "Both lines must belong to the same grant or investment.")
    with transaction.atomic():
        # The machine's lock order, taken before the first audit event: the parent, then both lines.
        _lock_parent(from_line.parent)
        list(BudgetLine.objects.select_for_update().filter(pk__in=[from_line.pk, to_line.pk]).order_by("pk"))
        amendment = BudgetAmendment.objects.create(
            organization=from_line.organization,
            from_line=from_line,
            to_line=to_line,
            amount=amount,
            reason=reason,
            requested_by=by,
        )
        audit_record(
            action="budget.amendment_proposed",
            actor=by,
            organization=from_line.organization,
            obj=amendment,
            after={"from_line": str(from_line.pk), "to_line": str(to_line.pk), "amount": amount, "reason": reason},
        )
        if not from_line.parent.reallocation_needs_funder_approval:
            amendment = BUDGET_AMENDMENTS.run(amendment, "apply", by=by)
    return amendment


def budget_amendment_act(*, amendment: BudgetAmendment, by, action: str, reason: str = "") -> BudgetAmendment:
    """The decision on a proposed re-allocation by the action's name (the funder's approve or reject; `apply` is
    finance's own, taken when the proposal needs no funder)."""
    return BUDGET_AMENDMENTS.run(amendment, BUDGET_AMENDMENTS.person_action(action).name, by=by, reason=reason)
