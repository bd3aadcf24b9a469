"""The organization's funding policy: separation of duties, dual approval per currency, payment-date grace."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import ValidationFailed
from apps.core.money import clean_currency
from apps.funding import permissions
from apps.funding.models import OrganizationPolicy
from apps.funding.services.common import check
from apps.tenancy.models import Role

POLICY_FIELDS = [
    "verifier_may_be_submitter",
    "releaser_may_be_verifier",
    "dual_approval_above",
    "dual_approval_above_by_currency",
    "dual_approval_roles",
    "disbursement_grace_days",
]


def _threshold(value, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not an amount.") from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed.for_field(field, "A threshold is zero or more.")
    return amount.quantize(Decimal("0.01"))


def _clean(changes: dict) -> dict:
    cleaned = {}
    for name, value in changes.items():
        if name not in POLICY_FIELDS:
            raise ValidationFailed.for_field(name, "Not a policy setting.")
        if name in ("verifier_may_be_submitter", "releaser_may_be_verifier"):
            if not isinstance(value, bool):
                raise ValidationFailed.for_field(name, "true or false.")
        elif name == "dual_approval_above":
            value = _threshold(value, field=name)
        elif name == "dual_approval_above_by_currency":
            if not isinstance(value, dict):
                raise ValidationFailed.for_field(name, 'An object of currency to amount, e.g. {"EUR": "45000"}.')
            value = {
                clean_currency(code): str(_threshold(amount, field=f"{name}.{code}")) for code, amount in value.items()
            }
        elif name == "dual_approval_roles":
            if (
                not isinstance(value, list)
                or len(value) < 2
                or len(set(value)) != len(value)
                or any(role not in (Role.OWNER, Role.FINANCE, Role.COMPLIANCE) for role in value)
            ):
                raise ValidationFailed.for_field(
                    name, "Two or more different roles from: owner, finance, compliance (each approves once)."
                )
        elif name == "disbursement_grace_days" and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 366
        ):
            raise ValidationFailed.for_field(name, "A whole number of days from 0 to 366.")
        cleaned[name] = value
    return cleaned


def policy_update(*, organization, by, **changes) -> OrganizationPolicy:
    """Owner only; every change is audited with before and after."""
    check(permissions.can_change_policy, by, organization)
    cleaned = _clean(changes)
    with transaction.atomic():
        policy, _ = OrganizationPolicy.objects.select_for_update().get_or_create(organization=organization)
        before = snapshot(policy, POLICY_FIELDS)
        for name, value in cleaned.items():
            setattr(policy, name, value)
        policy.updated_by = by
        policy.save(update_fields=[*POLICY_FIELDS, "updated_by", "updated_at"])
        old, new = changed_fields(before, snapshot(policy, POLICY_FIELDS))
        if new:
            audit_record(
                action="policy.updated", actor=by, organization=organization, obj=policy, before=old, after=new
            )
    return policy
