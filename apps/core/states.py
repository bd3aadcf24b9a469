"""State machines: a transition names the states it may start from; anything else is a 409 that says why."""

from collections.abc import Iterable

from django.db import models

from apps.core.errors import Conflict


def require_state(
    obj: models.Model, allowed_from: Iterable[str], action: str, field: str = "status", subject: str | None = None
) -> None:
    """Raises the 409 unless `obj` is in one of `allowed_from`. `subject` names the object in the message
    (e.g. "finding F-7"); by default "this <model>"."""
    current = getattr(obj, field)
    allowed = list(allowed_from)
    if current in allowed:
        return
    subject = subject or f"this {obj._meta.verbose_name}"
    display = getattr(obj, f"get_{field}_display", lambda: current)()
    choices = dict(obj._meta.get_field(field).choices or [])
    wanted = " or ".join(str(choices.get(state, state)).lower() for state in allowed)
    raise Conflict(
        f"Cannot {action} {subject}: it is {str(display).lower()}, and must be {wanted}.",
        {"status": current, "allowed_from": allowed},
    )
