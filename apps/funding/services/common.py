import datetime as dt

from apps.core.errors import ValidationFailed
from apps.tenancy.services import require


def check(decision_fn, by, organization, *args) -> None:
    """Role check for a user; `by=None` is govtrack itself (a beat task, the compute or escrow app)."""
    if by is not None:
        require(decision_fn(by, organization, *args))


def clean_text(value, *, field: str, required: bool = True, max_length: int = 300) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed.for_field(field, "This field is required.")
    if len(text) > max_length:
        raise ValidationFailed.for_field(field, f"At most {max_length} characters.")
    return text


def clean_date(value, *, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not a date (YYYY-MM-DD).") from None


def same_org(obj, organization, *, field: str) -> None:
    """Another organization's object given by id reads as unknown, naming the field (never confirming it exists)."""
    if obj is None or obj.organization_id != organization.pk:
        raise ValidationFailed.for_field(field, "Unknown in this organization.")
