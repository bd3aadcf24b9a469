from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.funding.machines import INVESTMENTS
from apps.funding.models import Assessment, EthicalCriterion, Funder, Instrument, Investment, InvestmentStatus
from apps.funding.permissions import can_manage_funding
from apps.funding.services.common import check, clean_date, clean_text, same_org

INVESTMENT_FIELDS = [
    "investor",
    "title",
    "instrument",
    "currency",
    "committed_amount",
    "closing_date",
    "owner",
    "description",
]
DEFAULT_ETHICAL_CRITERIA = ("Ethical alignment", "Long-term vision", "Technical expertise")


def investment_create(
    *,
    organization,
    by,
    investor: Funder,
    title: str,
    instrument: str,
    currency: str,
    committed_amount,
    closing_date=None,
    owner=None,
    description: str = "",
    criteria=DEFAULT_ETHICAL_CRITERIA,
) -> Investment:
    """Creates the investment with the criteria the investor was chosen for, to be assessed."""
    check(can_manage_funding, by, organization)
    same_org(investor, organization, field="investor")
    if instrument not in Instrument.values:
        raise ValidationFailed.for_field("instrument", f"Choose one of: {', '.join(Instrument.values)}.")
    investment = Investment(
        organization=organization,
        investor=investor,
        title=clean_text(title, field="title"),
        instrument=instrument,
        currency=clean_currency(currency),
        committed_amount=clean_amount(committed_amount, field="committed_amount"),
        closing_date=clean_date(closing_date, field="closing_date") if closing_date else None,
        owner=owner or by,
        description=description,
    )
    with transaction.atomic():
        investment.save(force_insert=True)
        EthicalCriterion.objects.bulk_create(
            [EthicalCriterion(investment=investment, criterion=name) for name in criteria]
        )
        audit_record(
            action="investment.created",
            actor=by,
            organization=organization,
            obj=investment,
            after=snapshot(investment, [*INVESTMENT_FIELDS, "status"]),
        )
    return investment


def investment_update(*, investment: Investment, by, **changes) -> Investment:
    check(can_manage_funding, by, investment.organization)
    if investment.status in (InvestmentStatus.CLOSED, InvestmentStatus.WITHDRAWN):
        raise Conflict(f"A {investment.get_status_display().lower()} investment cannot be changed.")
    if "currency" in changes and investment.milestones.exists():
        raise ValidationFailed.for_field("currency", "Fixed once milestones exist.")
    if "investor" in changes:
        same_org(changes["investor"], investment.organization, field="investor")
    if "instrument" in changes and changes["instrument"] not in Instrument.values:
        raise ValidationFailed.for_field("instrument", f"Choose one of: {', '.join(Instrument.values)}.")
    if "currency" in changes:
        changes["currency"] = clean_currency(changes["currency"])
    if "committed_amount" in changes:
        amount = clean_amount(changes["committed_amount"], field="committed_amount")
        planned = investment.milestones.aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if amount < planned:
            raise ValidationFailed.for_field(
                "committed_amount", f"Below the milestones already planned ({planned} {investment.currency})."
            )
        changes["committed_amount"] = amount
    with transaction.atomic():
        investment = Investment.objects.select_for_update().get(pk=investment.pk)
        before = snapshot(investment, INVESTMENT_FIELDS)
        for field, value in changes.items():
            if field in INVESTMENT_FIELDS:
                setattr(investment, field, value)
        investment.save(update_fields=[*INVESTMENT_FIELDS, "updated_at"])
        old, new = changed_fields(before, snapshot(investment, INVESTMENT_FIELDS))
        audit_record(
            action="investment.updated",
            actor=by,
            organization=investment.organization,
            obj=investment,
            before=old,
            after=new,
        )
    return investment


# --- status machine: every transition runs through apps.funding.machines.INVESTMENTS ------------------------


def investment_commit(*, investment: Investment, by) -> Investment:
    return INVESTMENTS.run(investment, "commit", by=by)


def investment_activate(*, investment: Investment, by) -> Investment:
    return INVESTMENTS.run(investment, "activate", by=by)


def investment_close(*, investment: Investment, by) -> Investment:
    return INVESTMENTS.run(investment, "close", by=by)


def investment_withdraw(*, investment: Investment, by, reason: str) -> Investment:
    return INVESTMENTS.run(investment, "withdraw", by=by, reason=reason)


def investment_act(*, investment: Investment, by, action: str, text: str = "") -> Investment:
    """Runs the investment action `action` (a name from INVESTMENTS) through its service (the dashboard's entry)."""
    services = {
        "commit": lambda: investment_commit(investment=investment, by=by),
        "activate": lambda: investment_activate(investment=investment, by=by),
        "close": lambda: investment_close(investment=investment, by=by),
        "withdraw": lambda: investment_withdraw(investment=investment, by=by, reason=text),
    }
    if action not in services:
        raise ValidationFailed.for_field("action", f"'{action}' is not an action on an investment.")
    return services[action]()


def ethical_criterion_assess(*, criterion: EthicalCriterion, by, assessment: str, notes: str = "") -> EthicalCriterion:
    organization = criterion.investment.organization
    check(can_manage_funding, by, organization)
    if assessment not in Assessment.values:
        raise ValidationFailed.for_field("assessment", f"Choose one of: {', '.join(Assessment.values)}.")
    with transaction.atomic():
        before = snapshot(criterion, ["assessment", "notes"])
        criterion.assessment, criterion.notes = assessment, notes
        criterion.assessed_by, criterion.assessed_at = by, timezone.now()
        criterion.save(update_fields=["assessment", "notes", "assessed_by", "assessed_at", "updated_at"])
        old, new = changed_fields(before, snapshot(criterion, ["assessment", "notes"]))
        audit_record(
            action="investment.criterion_assessed",
            actor=by,
            organization=organization,
            obj=criterion,
            before=old,
            after=new,
        )
    return criterion


def ethical_criterion_add(*, investment: Investment, by, criterion: str) -> EthicalCriterion:
    check(can_manage_funding, by, investment.organization)
    with transaction.atomic():
        row = EthicalCriterion.objects.create(investment=investment, criterion=clean_text(criterion, field="criterion"))
        audit_record(
            action="investment.criterion_added",
            actor=by,
            organization=investment.organization,
            obj=row,
            after={"criterion": row.criterion},
        )
    return row
