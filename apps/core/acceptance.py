"""A risk accepted for a while: findings and risks record the same four fields when someone accepts one.

`record_acceptance` and `clear_acceptance` are the `record` steps of those machines' transitions
(apps/compliance/machines.py, apps/risks/machines.py), so both refuse the same way and audit the same fields.
"""

import datetime as dt

from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.transitions import change_fields

MAX_ACCEPTANCE_DAYS = 366
ACCEPTANCE_CLEARED = {"accepted_by": None, "accepted_at": None, "acceptance_reason": "", "acceptance_expires_on": None}


def clean_acceptance_expiry(expires_on) -> dt.date:
    """An acceptance ends on a day in the future, at most a year ahead (then it is reviewed)."""
    if not isinstance(expires_on, dt.date):
        raise ValidationFailed.for_field("expires_on", "Give the day the acceptance ends as YYYY-MM-DD.")
    today = timezone.localdate()
    if expires_on <= today:
        raise ValidationFailed.for_field("expires_on", "An acceptance expires in the future.")
    if expires_on > today + dt.timedelta(days=MAX_ACCEPTANCE_DAYS):
        raise ValidationFailed.for_field("expires_on", "A risk is accepted for at most a year; review it then.")
    return expires_on


def record_acceptance(obj, by, params: dict) -> None:
    """The approver, when, why and until when: set on the locked row and audited with the status."""
    change_fields(
        params,
        obj,
        {
            "accepted_by": by,
            "accepted_at": timezone.now(),
            "acceptance_reason": params["reason"],
            "acceptance_expires_on": clean_acceptance_expiry(params.get("expires_on")),
        },
    )


def clear_acceptance(obj, by, params: dict) -> None:
    """Reopened: the acceptance no longer holds (the audit trail keeps who accepted it and why)."""
    changes = {name: value for name, value in ACCEPTANCE_CLEARED.items() if getattr(obj, name) != value}
    change_fields(params, obj, changes)
