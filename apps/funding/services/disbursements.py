import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.core.states import require_state
from apps.funding.machines import held_in_escrow, policy_for
from apps.funding.models import Disbursement, DisbursementKind, Grant, Investment, Milestone, MilestoneStatus
from apps.funding.permissions import can_record_disbursement, can_void_disbursement
from apps.funding.services.common import check, clean_date, clean_text
from apps.webhooks.models import WebhookEvent
from apps.webhooks.services import webhook_emit


def disbursement_record(
    *,
    milestone: Milestone,
    by,
    amount,
    paid_on,
    currency: str | None = None,
    reference: str = "",
    note: str = "",
    kind: str = DisbursementKind.FIAT,
    budget_line=None,
) -> Disbursement:
    """Records money paid against a released milestone (`by=None`: the escrow indexer, from the chain).

    The running totals on the milestone and its grant or investment are raised in the same transaction; their
    CHECK constraints make the database refuse anything beyond the milestone amount and the award.
    """
    organization = milestone.organization
    check(can_record_disbursement, by, organization)
    amount = clean_amount(amount, field="amount")
    currency = clean_currency(currency or milestone.currency)
    if currency != milestone.currency:
        raise ValidationFailed.for_field("currency", f"The milestone is in {milestone.currency}.")
    if kind not in DisbursementKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(DisbursementKind.values)}.")
    paid_on = clean_date(paid_on, field="paid_on")
    budget_line_check(milestone, budget_line)
    if by is not None:  # the chain's payments are recorded on the date the block carries
        _paid_on_check(milestone, paid_on)
    try:
        with transaction.atomic():
            _lock_parent(milestone)
            milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
            require_state(milestone, [MilestoneStatus.RELEASED], "record a disbursement for")
            if kind == DisbursementKind.FIAT and held_in_escrow(milestone):
                raise Conflict(
                    "This milestone is paid from the escrow contract: its disbursement is recorded from the "
                    "chain when the beneficiary withdraws."
                )
            remaining = milestone.amount - milestone.amount_disbursed
            if amount > remaining:
                raise ValidationFailed.for_field(
                    "amount", f"Only {remaining} {currency} of this milestone is left to disburse."
                )
            disbursement = Disbursement.objects.create(
                organization=organization,
                milestone=milestone,
                amount=amount,
                currency=currency,
                kind=kind,
                paid_on=paid_on,
                reference=reference[:200],
                note=note,
                recorded_by=by,
                budget_line=budget_line,
            )
            _add_to_totals(milestone, amount)
            audit_record(
                action="disbursement.recorded",
                actor=by,
                organization=organization,
                obj=disbursement,
                after={
                    "milestone": str(milestone.pk),
                    "amount": amount,
                    "currency": currency,
                    "kind": kind,
                    "paid_on": paid_on,
                    "reference": reference,
                    **({"budget_line": str(budget_line.pk)} if budget_line is not None else {}),
                },
            )
            webhook_emit(
                organization=organization,
                event_type=WebhookEvent.DISBURSEMENT_RECORDED,
                data={
                    "disbursement_id": str(disbursement.pk),
                    "milestone_id": str(milestone.pk),
                    "amount": str(amount),
                    "currency": currency,
                    "kind": kind,
                    "paid_on": paid_on.isoformat(),
                    "reference": reference,
                },
            )
    except IntegrityError as exc:
        if "disbursed_within" in str(exc):
            raise ValidationFailed.for_field("amount", "The total disbursed would exceed what was awarded.") from None
        raise
    return disbursement


def disbursement_void(*, disbursement: Disbursement, by, reason: str) -> Disbursement:
    """Corrects a disbursement recorded in error: a compensating entry of the opposite amount, with the reason.

    Nothing is edited or deleted: both rows stay and show, and the running totals come down by the amount.
    `by=None` is govtrack itself (a reorg removed the on-chain withdrawal a disbursement was recorded from).
    """
    check(can_void_disbursement, by, disbursement.organization)
    reason = clean_text(reason, field="reason", max_length=2000)
    with transaction.atomic():
        _lock_parent(disbursement.milestone)
        Milestone.objects.select_for_update().filter(pk=disbursement.milestone_id).first()
        disbursement = Disbursement.objects.select_for_update().select_related("milestone").get(pk=disbursement.pk)
        if disbursement.voids_id is not None:
            raise Conflict("This entry is itself a void; record a new disbursement instead.")
        if Disbursement.objects.filter(voids=disbursement).exists():
            raise Conflict("This disbursement is already voided.")
        if by is not None and disbursement.kind == DisbursementKind.ONCHAIN:
            raise Conflict("An on-chain disbursement is what the chain says was withdrawn; only a reorg undoes it.")
        void = Disbursement.objects.create(
            organization=disbursement.organization,
            milestone=disbursement.milestone,
            amount=-disbursement.amount,
            currency=disbursement.currency,
            kind=disbursement.kind,
            paid_on=timezone.localdate(),
            reference=disbursement.reference,
            note=f"Void of the disbursement of {disbursement.paid_on}.",
            recorded_by=by,
            voids=disbursement,
            reason=reason,
            budget_line_id=disbursement.budget_line_id,
        )
        _add_to_totals(disbursement.milestone, -disbursement.amount)
        audit_record(
            action="disbursement.voided",
            actor=by,
            organization=disbursement.organization,
            obj=disbursement,
            before={"amount": disbursement.amount, "currency": disbursement.currency, "paid_on": disbursement.paid_on},
            after={"void": str(void.pk), "reason": reason},
        )
        webhook_emit(
            organization=disbursement.organization,
            event_type=WebhookEvent.DISBURSEMENT_RECORDED,
            data={
                "disbursement_id": str(void.pk),
                "voids": str(disbursement.pk),
                "milestone_id": str(disbursement.milestone_id),
                "amount": str(void.amount),
                "currency": void.currency,
                "kind": void.kind,
                "paid_on": void.paid_on.isoformat(),
                "reason": reason,
            },
        )
    return void


def disbursement_reverse_from_chain(*, disbursement: Disbursement, reason: str, by=None) -> Disbursement:
    """A reorg removed the Withdrawn event an on-chain disbursement was recorded from: the payment did not happen
    on the canonical chain, so it is voided (a compensating entry; the totals come down; audited)."""
    if disbursement.kind != DisbursementKind.ONCHAIN:
        raise Conflict("Only an on-chain disbursement is reversed by the chain.")
    return disbursement_void(disbursement=disbursement, by=None, reason=reason)


def budget_line_check(milestone: Milestone, budget_line) -> None:
    """A disbursement tagged to a budget line must name a line of the milestone's own grant or investment."""
    if budget_line is None:
        return
    parent_matches = (
        budget_line.grant_id == milestone.grant_id
        if milestone.grant_id
        else budget_line.investment_id == milestone.investment_id
    )
    if not parent_matches:
        raise ValidationFailed.for_field("budget_line", "Not a budget line of this milestone's grant or investment.")


def _paid_on_check(milestone: Milestone, paid_on: dt.date) -> None:
    """A payment is dated neither in the future nor outside the grant's period (plus the policy's grace)."""
    today = timezone.localdate()
    if paid_on > today:
        raise ValidationFailed.for_field("paid_on", f"A payment cannot be dated in the future (today is {today}).")
    grant = milestone.grant
    if grant is not None:
        grace = policy_for(milestone.organization).disbursement_grace_days
        latest = grant.period_end + dt.timedelta(days=grace)
        if not grant.period_start <= paid_on <= latest:
            raise ValidationFailed.for_field(
                "paid_on",
                f"The payment date must lie within the grant period {grant.period_start} to {grant.period_end} "
                f"(plus {grace} days of grace: until {latest}).",
            )


def _lock_parent(milestone: Milestone) -> None:
    # Lock order: the grant or investment before the milestone (their running totals move together).
    parent_model = Grant if milestone.grant_id else Investment
    parent_model.objects.select_for_update().filter(pk=milestone.grant_id or milestone.investment_id).first()


def _add_to_totals(milestone: Milestone, amount: Decimal) -> None:
    """Moves the running totals of the milestone and its grant or investment (their CHECKs bound the result)."""
    Milestone.objects.filter(pk=milestone.pk).update(amount_disbursed=F("amount_disbursed") + amount)
    parent_model = Grant if milestone.grant_id else Investment
    parent_model.objects.filter(pk=milestone.grant_id or milestone.investment_id).update(
        amount_disbursed=F("amount_disbursed") + amount
    )
