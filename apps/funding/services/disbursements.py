from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.core.states import require_state
from apps.funding.models import Disbursement, DisbursementKind, Grant, Investment, Milestone, MilestoneStatus
from apps.funding.permissions import can_record_disbursement
from apps.funding.services.common import check, clean_date, held_in_escrow
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
    try:
        with transaction.atomic():
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


def disbursement_reverse_from_chain(*, disbursement: Disbursement, reason: str, by=None) -> None:
    """A reorg removed the Withdrawn event an on-chain disbursement was recorded from: the payment did not happen
    on the canonical chain, so the row goes and the running totals come down (audited)."""
    check(can_record_disbursement, by, disbursement.organization)
    if disbursement.kind != DisbursementKind.ONCHAIN:
        raise Conflict("Only an on-chain disbursement is reversed by the chain.")
    with transaction.atomic():
        disbursement = Disbursement.objects.select_for_update().select_related("milestone").get(pk=disbursement.pk)
        _add_to_totals(disbursement.milestone, -disbursement.amount)
        audit_record(
            action="disbursement.reversed",
            actor=by,
            organization=disbursement.organization,
            obj=disbursement,
            before={
                "milestone": str(disbursement.milestone_id),
                "amount": disbursement.amount,
                "currency": disbursement.currency,
                "reference": disbursement.reference,
            },
            after={"reason": reason},
        )
        disbursement.delete()


def _add_to_totals(milestone: Milestone, amount: Decimal) -> None:
    """Moves the running totals of the milestone and its grant or investment (their CHECKs bound the result)."""
    Milestone.objects.filter(pk=milestone.pk).update(amount_disbursed=F("amount_disbursed") + amount)
    parent_model = Grant if milestone.grant_id else Investment
    parent_model.objects.filter(pk=milestone.grant_id or milestone.investment_id).update(
        amount_disbursed=F("amount_disbursed") + amount
    )
