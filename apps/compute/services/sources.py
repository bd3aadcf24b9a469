"""Compute sources: configuration (checked by compute_hooks), scheduling, and one collection run.

Beat claims the due sources every COMPUTE_SCHEDULER_TICK_SECONDS (moving their next run forward, so a slow queue
never gets the same source twice) and queues one collect task per source. A collection locks its source row
(skipping it when another worker holds it), runs the collector, stores the samples and records the outcome. A
failing source waits schedule x 2^failures seconds (at most COMPUTE_SOURCE_MAX_BACKOFF_SECONDS) before its next
try; the other sources are not affected.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compute import permissions
from apps.compute.evaluation import source_lateness_seconds
from apps.compute.models import COLLECTED_KINDS, ComputeSource, Device, DeviceKind, SourceKind
from apps.compute.services.collectors import (
    REDACTED,
    collection_failure_text,
    collector_for_run,
    secrets_kept_on_new_origin,
    tenant_config_check,
)
from apps.compute.services.devices import devices_for_keys
from apps.compute.services.ingest import TimeBounds, evaluations_queue_sealed, sample_clean, samples_store_on_time
from apps.core.errors import Conflict, ValidationFailed
from apps.core.outbox import outbox_nudge
from apps.tenancy.services import require
from compute_hooks import CollectorConfigError, build_collector

logger = logging.getLogger(__name__)

SOURCE_FIELDS = [
    "name",
    "kind",
    "device_kind",
    "config",
    "schedule_seconds",
    "cadence_seconds",
    "lateness_seconds",
    "enabled",
]
MIN_SCHEDULE_SECONDS = 5
MAX_SCHEDULE_SECONDS = 86400


# --- configuration ----------------------------------------------------------------------------------


def config_redacted(config: dict) -> dict:
    """The config as the API shows it: tokens, passwords and header values replaced."""
    shown = dict(config or {})
    if shown.get("bearer_token"):
        shown["bearer_token"] = REDACTED
    auth = shown.get("basic_auth")
    if isinstance(auth, dict):
        shown["basic_auth"] = {**auth, "password": REDACTED}
    elif isinstance(auth, list | tuple) and len(auth) == 2:
        shown["basic_auth"] = [auth[0], REDACTED]
    if isinstance(shown.get("headers"), dict):
        shown["headers"] = dict.fromkeys(shown["headers"], REDACTED)
    return shown


def _restore_secrets(new: dict, old: dict) -> dict:
    """A config sent back as shown keeps the stored secrets where it carries the redaction marker, as long as its
    URL stays on the same origin: a stored secret goes only where it was given for, a new host needs it again."""
    if isinstance(new, dict) and (field := secrets_kept_on_new_origin(old, new)):
        raise ValidationFailed.for_field(field, "The URL now points elsewhere: give this secret again.")
    config = dict(new)
    if config.get("bearer_token") == REDACTED:
        config["bearer_token"] = old.get("bearer_token")
    auth, old_auth = config.get("basic_auth"), old.get("basic_auth")
    if isinstance(auth, dict) and auth.get("password") == REDACTED and isinstance(old_auth, dict):
        config["basic_auth"] = {**auth, "password": old_auth.get("password", "")}
    if isinstance(auth, list) and len(auth) == 2 and auth[1] == REDACTED and isinstance(old_auth, list | tuple):
        config["basic_auth"] = [auth[0], old_auth[1]]
    headers, old_headers = config.get("headers"), old.get("headers") or {}
    if isinstance(headers, dict):
        config["headers"] = {k: old_headers.get(k, "") if v == REDACTED else v for k, v in headers.items()}
    return config


def source_config_clean(kind: str, config) -> dict:
    if kind not in SourceKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(SourceKind.values)}.")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValidationFailed.for_field("config", "Give an object.")
    if kind == SourceKind.PUSH:
        if config:
            raise ValidationFailed.for_field("config", "Edge agents push their samples: a push source takes no config.")
        return {}
    tenant_config_check(kind, config)
    try:
        build_collector(kind, config)
    except (CollectorConfigError, ValueError, TypeError) as exc:
        raise ValidationFailed.for_field("config", str(exc)) from None
    return config


def _clean_schedule(value) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_SCHEDULE_SECONDS <= value <= MAX_SCHEDULE_SECONDS
    ):
        raise ValidationFailed.for_field(
            "schedule_seconds", f"A whole number of seconds from {MIN_SCHEDULE_SECONDS} to {MAX_SCHEDULE_SECONDS}."
        )
    return value


def _clean_seconds(value, field: str, low: int, high: int) -> int | None:
    """An optional number of seconds (None: the default of the source's kind, docs/compute.md)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed.for_field(field, f"A whole number of seconds from {low} to {high}, or null.")
    return value


def _clean_name(value) -> str:
    name = (value or "").strip() if isinstance(value, str) else ""
    if not name or len(name) > 200:
        raise ValidationFailed.for_field("name", "A name of 1 to 200 characters.")
    return name


# --- writes by users ---------------------------------------------------------------------------------


def source_create(
    *,
    organization,
    by,
    name: str,
    kind: str,
    config: dict | None = None,
    device_kind: str = DeviceKind.GPU,
    schedule_seconds: int = 60,
    enabled: bool = True,
    cadence_seconds: int | None = None,
    lateness_seconds: int | None = None,
) -> ComputeSource:
    require(permissions.can_manage_sources(by, organization))
    config = source_config_clean(kind, config)
    if device_kind not in DeviceKind.values:
        raise ValidationFailed.for_field("device_kind", f"Choose one of: {', '.join(DeviceKind.values)}.")
    source = ComputeSource(
        organization=organization,
        name=_clean_name(name),
        kind=kind,
        device_kind=device_kind,
        config=config,
        schedule_seconds=_clean_schedule(schedule_seconds),
        cadence_seconds=_clean_seconds(cadence_seconds, "cadence_seconds", 1, 86_400),
        lateness_seconds=_clean_seconds(lateness_seconds, "lateness_seconds", 0, 30 * 86_400),
        enabled=bool(enabled),
        next_run_at=timezone.now() if kind in COLLECTED_KINDS else None,
    )
    try:
        with transaction.atomic():
            source.save(force_insert=True)
            audit_record(
                action="compute.source_created",
                actor=by,
                organization=organization,
                obj=source,
                after={**snapshot(source, SOURCE_FIELDS), "config": config_redacted(config)},
            )
    except IntegrityError:
        raise Conflict(f"A compute source named '{source.name}' already exists.") from None
    return source


def source_update(*, source: ComputeSource, by, **changes) -> ComputeSource:
    require(permissions.can_manage_sources(by, source.organization))
    with transaction.atomic():
        source = ComputeSource.objects.select_for_update().get(pk=source.pk)
        before = {**snapshot(source, SOURCE_FIELDS), "config": config_redacted(source.config)}
        if "name" in changes:
            source.name = _clean_name(changes["name"])
        if "device_kind" in changes:
            if changes["device_kind"] not in DeviceKind.values:
                raise ValidationFailed.for_field("device_kind", f"Choose one of: {', '.join(DeviceKind.values)}.")
            source.device_kind = changes["device_kind"]
        if "config" in changes:
            if not isinstance(changes["config"] or {}, dict):
                raise ValidationFailed.for_field("config", "Give an object.")
            source.config = source_config_clean(source.kind, _restore_secrets(changes["config"] or {}, source.config))
        if "schedule_seconds" in changes:
            source.schedule_seconds = _clean_schedule(changes["schedule_seconds"])
        if "cadence_seconds" in changes:
            source.cadence_seconds = _clean_seconds(changes["cadence_seconds"], "cadence_seconds", 1, 86_400)
        if "lateness_seconds" in changes:
            source.lateness_seconds = _clean_seconds(changes["lateness_seconds"], "lateness_seconds", 0, 30 * 86_400)
        if "enabled" in changes:
            enabled = bool(changes["enabled"])
            if enabled and not source.enabled:
                # Re-enabled: run soon, with a clean slate of failures.
                source.consecutive_failures = 0
                source.next_run_at = timezone.now() if source.kind in COLLECTED_KINDS else None
            source.enabled = enabled
        try:
            with transaction.atomic():
                source.save()
        except IntegrityError:
            raise Conflict(f"A compute source named '{source.name}' already exists.") from None
        old, new = changed_fields(before, {**snapshot(source, SOURCE_FIELDS), "config": config_redacted(source.config)})
        if new:
            audit_record(
                action="compute.source_updated",
                actor=by,
                organization=source.organization,
                obj=source,
                before=old,
                after=new,
            )
    return source


def source_delete(*, source: ComputeSource, by) -> None:
    """Deletes a source; its devices and their samples stay (they are evidence)."""
    require(permissions.can_manage_sources(by, source.organization))
    with transaction.atomic():
        # The row before the audit chain head (docs/controls.md, lock order); a concurrent delete is a 404.
        source = ComputeSource.objects.select_for_update().get(pk=source.pk)
        audit_record(
            action="compute.source_deleted",
            actor=by,
            organization=source.organization,
            obj=source,
            before={"name": source.name, "kind": source.kind},
        )
        source.delete()


def source_run_now(*, source: ComputeSource, by) -> ComputeSource:
    """Queues a collection of the source now (it also keeps its schedule)."""
    from apps.compute.tasks import compute_collect_source

    require(permissions.can_manage_sources(by, source.organization))
    if source.kind not in COLLECTED_KINDS:
        raise Conflict("A push source is not collected: its edge agents send their samples themselves.")
    if not source.enabled:
        raise Conflict("This source is disabled; enable it first.")
    with transaction.atomic():
        # Due now: the scheduler's next tick collects it even if the nudge does not reach a worker.
        ComputeSource.objects.filter(pk=source.pk).update(next_run_at=timezone.now())
        audit_record(action="compute.source_run_requested", actor=by, organization=source.organization, obj=source)
        outbox_nudge(compute_collect_source, str(source.pk))
    source.refresh_from_db()
    return source


# --- the scheduler ----------------------------------------------------------------------------------------


def sources_claim_due(*, now: dt.datetime | None = None) -> list[str]:
    """The ids of the enabled sources due now, each moved one schedule ahead so no later tick claims it again."""
    now = now or timezone.now()
    due = ComputeSource.objects.filter(enabled=True, kind__in=COLLECTED_KINDS).filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    )
    claimed = []
    for pk, schedule in due.values_list("pk", "schedule_seconds"):
        moved = ComputeSource.objects.filter(pk=pk).filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        if moved.update(next_run_at=now + dt.timedelta(seconds=schedule)):
            claimed.append(str(pk))
    return claimed


def backoff_seconds(schedule_seconds: int, failures: int) -> int:
    return min(schedule_seconds * 2 ** min(failures, 20), max(settings.COMPUTE_SOURCE_MAX_BACKOFF_SECONDS, 1))


def source_collect(*, source_id, now=None) -> dict:
    """One collection run of a source (the collect task). Never raises for a failing collector: it records it."""
    with transaction.atomic():
        source = (
            ComputeSource.objects.select_for_update(skip_locked=True)
            .select_related("organization")
            .filter(pk=source_id, kind__in=COLLECTED_KINDS)
            .first()
        )
        if source is None:
            return {"source": str(source_id), "skipped": "gone, push-only, or being collected by another worker"}
        if not source.enabled:
            return {"source": str(source_id), "skipped": "disabled"}
        try:
            samples = list(collector_for_run(source.kind, source.config).collect())
        except Exception as exc:  # a collector error, or anything a driver or library raises
            return _record_failure(source, exc)
        try:
            with transaction.atomic():
                stored, rejected = _store_collected(source, samples)
        except DatabaseError as exc:
            return _record_failure(source, exc)
        return _record_success(source, stored=stored, rejected=rejected)


def _store_collected(source: ComputeSource, samples) -> tuple[int, int]:
    now = timezone.now()
    bounds = TimeBounds.at(now)
    by_device: dict[str, list] = {}
    rejected = 0
    for index, sample in enumerate(samples):
        checked = sample_clean(index, sample.to_wire(), bounds=bounds)
        if isinstance(checked, dict) or len(sample.device_key) > 200:
            rejected += 1
            continue
        by_device.setdefault(sample.device_key, []).append(checked)
    if not by_device:
        return 0, rejected
    # A device's labels: those of all its samples (the first one's value where they differ).
    labels = {key: {k: v for s in reversed(items) for k, v in s.labels.items()} for key, items in by_device.items()}
    devices = devices_for_keys(source=source, keys_labels=labels, kind=source.device_kind)
    merged: dict[tuple, float] = {}
    for key, items in by_device.items():
        device = devices[key]
        for item in items:
            row_key = (device.pk, item.metric, item.ts)
            merged[row_key] = max(merged.get(row_key, item.value), item.value)
    lateness = source_lateness_seconds(source)
    rows = [(*key, value) for key, value in merged.items()]
    stored = samples_store_on_time(rows=rows, lateness={d.pk: lateness for d in devices.values()}, now=now)
    Device.objects.filter(pk__in=[d.pk for d in devices.values()]).update(last_seen_at=now)
    evaluations_queue_sealed(devices=list(devices.values()), latest=max(row[2] for row in rows), now=now)
    return len(merged) - len(stored.duplicates), rejected


def _record_failure(source: ComputeSource, exc: Exception) -> dict:
    now = timezone.now()
    failures = source.consecutive_failures + 1
    wait = backoff_seconds(source.schedule_seconds, failures)
    message = collection_failure_text(exc)
    detail = f"{type(exc).__name__}: {exc}"[:2000]  # may quote the remote side: for the operator's log only
    logger.warning("compute source %s (%s) failed (%d in a row): %s", source.pk, source.name, failures, detail)
    ComputeSource.objects.filter(pk=source.pk).update(
        last_run_at=now,
        last_error=message,
        consecutive_failures=failures,
        next_run_at=now + dt.timedelta(seconds=wait),
    )
    if source.consecutive_failures == 0:
        audit_record(
            action="compute.source_failing",
            organization=source.organization,
            obj=source,
            after={"error": message[:300]},
        )
    return {"source": str(source.pk), "ok": False, "error": message, "retry_in_seconds": wait}


def _record_success(source: ComputeSource, *, stored: int, rejected: int) -> dict:
    now = timezone.now()
    ComputeSource.objects.filter(pk=source.pk).update(
        last_run_at=now,
        last_success_at=now,
        last_error="",
        last_sample_count=stored,
        consecutive_failures=0,
        next_run_at=now + dt.timedelta(seconds=source.schedule_seconds),
    )
    if source.consecutive_failures:
        audit_record(
            action="compute.source_recovered",
            organization=source.organization,
            obj=source,
            before={"consecutive_failures": source.consecutive_failures},
        )
    return {"source": str(source.pk), "ok": True, "stored": stored, "rejected": rejected}
