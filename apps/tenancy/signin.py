"""The sign-in lockout (django-axes): what a locked-out person sees, and the audit event of each lockout."""

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from apps.audit.services import audit_record


def signin_lockout_record(*, username: str, ip_address: str) -> None:
    """One event on the global chain when a username and address pair gets locked out."""
    with transaction.atomic():
        audit_record(
            action="signin.locked_out",
            after={
                "username": username[:150],
                "ip_address": ip_address,
                "failures": settings.AXES_FAILURE_LIMIT,
                "locked_for_seconds": int(settings.AXES_COOLOFF_TIME.total_seconds()),
            },
            object_repr=f"sign-in of {username[:150]}",
        )


def on_user_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    # Axes sends this for the attempt that trips the lock and again for each refused one; only the first has a count.
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    signin_lockout_record(username=username or "", ip_address=ip_address or "")


def _seconds_left(username: str, ip_address: str) -> int:
    from axes.models import AccessAttempt

    last = (
        AccessAttempt.objects.filter(username=username, ip_address=ip_address)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    if last is None:
        return math.ceil(cooloff)
    return max(1, math.ceil((last + settings.AXES_COOLOFF_TIME - timezone.now()).total_seconds()))


def signin_locked_out(request, original_response=None, credentials=None):
    """The sign-in page again, saying why and for how long (429 with Retry-After); no password is checked."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    seconds = _seconds_left(username, getattr(request, "axes_ip_address", "") or "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": True, "minutes_left": math.ceil(seconds / 60)}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
