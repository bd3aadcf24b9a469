"""Money: Decimal amounts with an ISO-4217 currency code beside them; never float."""

from decimal import Decimal, InvalidOperation

import pycountry
from django.db import models

from apps.core.errors import ValidationFailed

AMOUNT_MAX_DIGITS = 18
AMOUNT_DECIMALS = 2
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)


def AmountField(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMALS, **kwargs)


def CurrencyField(**kwargs) -> models.CharField:
    return models.CharField(max_length=3, **kwargs)


def clean_currency(value, *, field: str = "currency") -> str:
    code = str(value or "").strip().upper()
    if code not in CURRENCY_CODES:
        raise ValidationFailed.for_field(field, f"'{value}' is not an ISO-4217 currency code (e.g. USD, EUR).")
    return code


def clean_amount(value, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """A positive amount with at most two decimals; a clear error naming the field otherwise."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not a number.") from None
    if not amount.is_finite():
        raise ValidationFailed.for_field(field, "The amount must be a finite number.")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed.for_field(
            field, "The amount must be greater than zero." if not allow_zero else "The amount cannot be negative."
        )
    if amount.as_tuple().exponent < -AMOUNT_DECIMALS:
        raise ValidationFailed.for_field(field, f"At most {AMOUNT_DECIMALS} decimal places.")
    if amount.adjusted() >= AMOUNT_MAX_DIGITS - AMOUNT_DECIMALS:
        raise ValidationFailed.for_field(field, "The amount is too large.")
    return amount
