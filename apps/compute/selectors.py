"""Reads of compute data for a user, always scoped to the user's organizations."""

import datetime as dt

from django.conf import settings
from django.db.models import QuerySet

from apps.compute.models import ComputeSource, Device, Sample, SampleRollup, VerificationReport
from apps.core.errors import ValidationFailed
from apps.tenancy.scoping import get_scoped, scope_to_user


def source_list(*, user) -> QuerySet:
    return scope_to_user(ComputeSource.objects.all(), user=user)


def source_get(*, user, pk) -> ComputeSource:
    return get_scoped(ComputeSource.objects.select_related("organization"), user=user, pk=pk)


def device_list(*, user) -> QuerySet:
    return scope_to_user(Device.objects.select_related("source"), user=user)


def device_get(*, user, pk) -> Device:
    return get_scoped(Device.objects.select_related("source", "organization"), user=user, pk=pk)


def report_list(*, user) -> QuerySet:
    return scope_to_user(
        VerificationReport.objects.select_related("criterion", "milestone", "superseded_by").defer(
            "canonical_json", "superseded_by__canonical_json"
        ),
        user=user,
    )


def report_get(*, user, pk) -> VerificationReport:
    return get_scoped(
        VerificationReport.objects.select_related("criterion", "milestone", "superseded_by"), user=user, pk=pk
    )


MAX_RANGE = dt.timedelta(days=31)


def samples_range(*, user, device_pk, metric: str, start: dt.datetime, end: dt.datetime) -> tuple[str, QuerySet]:
    """A device's samples of one metric in [start, end): raw up to COMPUTE_SAMPLES_RAW_MAX_SECONDS, else the
    per-minute rollups (also for ranges older than the raw retention).

    Returns ("raw" | "minute", rows), oldest first."""
    device = device_get(user=user, pk=device_pk)
    if end <= start:
        raise ValidationFailed.for_field("end", "The range ends before it starts.")
    if end - start > MAX_RANGE:
        raise ValidationFailed.for_field("end", f"Ask for at most {MAX_RANGE.days} days at a time.")
    retained_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.COMPUTE_RAW_RETENTION_DAYS)
    if (end - start).total_seconds() <= settings.COMPUTE_SAMPLES_RAW_MAX_SECONDS and start >= retained_since:
        rows = Sample.objects.filter(device=device, metric=metric, ts__gte=start, ts__lt=end).order_by("ts")
        return "raw", rows
    rows = SampleRollup.objects.filter(device=device, metric=metric, minute__gte=start, minute__lt=end)
    return "minute", rows.order_by("minute")
