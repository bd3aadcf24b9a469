"""Verification of compute criteria: each evaluation writes a VerificationReport (canonical JSON + SHA-256); a pass
is recorded on the criterion, and a submitted milestone whose criteria are all met is verified.

Verifying goes through apps.funding.services.milestones.milestone_verify; the release approvals of the organization's
policy follow, and for an escrowed milestone they queue the attestation with the report's hash.
"""

import csv
import dataclasses
import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import rfc8785
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.compute import permissions
from apps.compute.criteria import criterion_config_clean
from apps.compute.evaluation import (
    Window,
    WindowNotSealed,
    device_cadence_seconds,
    devices_lateness_seconds,
    devices_selected,
    promql_series,
    raw_merkle,
    raw_samples_for_export,
    rollup_points,
    rollup_query_text,
    source_lateness_seconds,
    window_for,
)
from apps.compute.models import ComputeSource, LateSample, ReportSource, VerificationReport
from apps.core.canonical import normalize, sha256_hex
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.core.states import require_state
from apps.funding.models import CriterionKind, CriterionStatus, Milestone, MilestoneCriterion, MilestoneStatus
from apps.funding.services.milestones import criterion_record_result, milestone_verify
from apps.tenancy.services import require
from compute_hooks.evidence import REPORT_VERSION, report_complete, report_frame

logger = logging.getLogger(__name__)

EVALUATED_STATUSES = (MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED)
WATCHED_STATUSES = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED)  # what beat evaluates
MAX_REASON = 2000
# Criteria the funding service evaluates as it verifies (from KPI readings, period reports, audits).
EVALUATED_AT_VERIFY = (CriterionKind.KPI, CriterionKind.REPORT_APPROVED, CriterionKind.COMPLIANCE)


def report_canonical_text(document: dict) -> str:
    """A report's canonical JSON (RFC 8785, the `rfc8785` library); compute_hooks.evidence writes the same bytes."""
    return rfc8785.dumps(document).decode("utf-8")


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sealing(window: Window, lateness: int, late_until: dt.datetime | None) -> dict:
    margin = settings.COMPUTE_SEAL_MARGIN_SECONDS
    return {
        "lateness_seconds": lateness,
        "margin_seconds": margin,
        "sealed_at": window.end + dt.timedelta(seconds=lateness + margin),
        "late_samples_included_until": late_until,
    }


def _rollup_devices(*, devices: list[dict], metric: str, window: Window, late_until) -> list[dict]:
    """Device entries ({"id", "key", "cadence_seconds"}) completed with their points and raw-sample Merkle roots, in
    plain JSON values (the points are the bulk of a report: nothing walks them again)."""
    ids = [d["id"] for d in devices]
    points = rollup_points(device_ids=ids, metric=metric, window=window, late_until=late_until)
    roots = raw_merkle(device_ids=ids, metric=metric, window=window, late_until=late_until)
    points, roots = ({str(k): v for k, v in found.items()} for found in (points, roots))
    return [
        {
            **entry,
            "id": str(entry["id"]),
            "expected_samples": window.seconds // entry["cadence_seconds"],
            "points": points.get(str(entry["id"]), []),
            "raw": roots[str(entry["id"])],
        }
        for entry in devices
    ]


def _frame(*, criterion: MilestoneCriterion, config: dict, now: dt.datetime, late_until=None) -> tuple[dict, list]:
    """The report's frame, evaluated at `now` (refused with WindowNotSealed before the window is sealed), and the
    ids of the devices it reads."""
    milestone = criterion.milestone
    organization = milestone.organization
    frame = {
        "version": REPORT_VERSION,
        "organization": organization.pk,
        "milestone": milestone.pk,
        "criterion": criterion.pk,
        "inputs": config,
        "supersedes": None,
    }
    if config["promql"]:
        source = ComputeSource.objects.filter(pk=config["source"], organization=organization).first()
        if source is None:
            raise ValidationFailed.for_field("config.source", "Unknown compute source in this organization.")
        lateness = source_lateness_seconds(source)
        window = window_for(config, now=now, lateness_seconds=lateness)
        query, series = promql_series(source=source, config=config, window=window)
        devices = normalize([{**s, "id": None, "raw": None} for s in series])
        frame |= {"source": ReportSource.PROMQL, "query": query}
        device_ids = []
    else:
        selected = devices_selected(
            organization=organization, selector=config["device_selector"], kind=config["device_kind"]
        )
        lateness = devices_lateness_seconds(devices=selected, metric=config["metric"], kind=config["device_kind"])
        window = window_for(config, now=now, lateness_seconds=lateness)
        entries = [{"id": d.pk, "key": d.key, "cadence_seconds": device_cadence_seconds(d)} for d in selected]
        frame |= {
            "source": ReportSource.ROLLUPS,
            "query": rollup_query_text(metric=config["metric"], window=window, device_count=len(selected)),
        }
        devices = _rollup_devices(devices=entries, metric=config["metric"], window=window, late_until=late_until)
        device_ids = [d.pk for d in selected]
    frame |= {"window": window.as_dict(), "sealing": _sealing(window, lateness, late_until)}
    # The devices' entries are plain JSON values already: normalizing would walk every point again.
    return normalize(frame) | {"devices": devices}, device_ids


def _late_count(*, device_ids: list, metric: str, window_start, window_end, late_until) -> int:
    """Late samples of the report's devices and window that it did not read."""
    late = LateSample.objects.filter(device_id__in=device_ids, metric=metric, ts__gte=window_start, ts__lt=window_end)
    if late_until is not None:
        late = late.filter(received_at__gt=late_until)
    return late.count()


def _report_create(
    *, criterion, document: dict, device_ids: list, by, supersedes=None, reason="", text: str | None = None
) -> VerificationReport:
    """Writes the report (in the caller's transaction) with its devices and its audit event; `text` is the
    document's canonical JSON when the caller has it already."""
    text = text if text is not None else report_canonical_text(document)
    window = document["window"]
    result = document["result"]
    start, end = _parse(window["start"]), _parse(window["end"])
    late_until = document["sealing"]["late_samples_included_until"]
    report = VerificationReport.objects.create(
        organization=criterion.milestone.organization,
        criterion=criterion,
        milestone=criterion.milestone,
        source=document["source"],
        window_start=start,
        window_end=end,
        passed=result["passed"],
        value=None if result["fleet_value"] is None else Decimal(result["fleet_value"]),
        devices_counted=result["devices_counted"],
        query=document["query"],
        canonical_json=text,
        sha256=sha256_hex(text),
        metric=document["inputs"]["metric"],
        supersedes=supersedes,
        reason=reason,
        late_samples=_late_count(
            device_ids=device_ids,
            metric=document["inputs"]["metric"],
            window_start=start,
            window_end=end,
            late_until=_parse(late_until) if late_until else None,
        ),
    )
    report.devices.set(device_ids)
    after = {"criterion": str(criterion.pk), "passed": result["passed"], "sha256": report.sha256}
    if supersedes is None:
        audit_record(
            action="compute.verification_reported", actor=by, organization=report.organization, obj=report, after=after
        )
    else:
        audit_record(
            action="compute.verification_superseded",
            actor=by,
            organization=report.organization,
            obj=report,
            before={"report": str(supersedes.pk), "passed": supersedes.passed, "sha256": supersedes.sha256},
            after={**after, "reason": reason, "late_samples_included_until": late_until},
        )
    return report


def _record(*, criterion, report: VerificationReport) -> None:
    criterion_record_result(
        criterion=criterion,
        passed=report.passed,
        result=normalize(
            {
                "report_id": report.pk,
                "report_sha256": report.sha256,
                "source": report.source,
                "window_start": report.window_start,
                "window_end": report.window_end,
                "fleet_value": report.value,
                "devices_counted": report.devices_counted,
                "passed": report.passed,
            }
        ),
        by=None,
    )


def report_latest(report: VerificationReport) -> VerificationReport:
    """The report that stands for `report` now: itself, or the last of the reports that superseded it."""
    while True:
        following = VerificationReport.objects.filter(supersedes=report).first()
        if following is None:
            return report
        report = following


def criterion_verify(*, criterion: MilestoneCriterion, by=None, now: dt.datetime | None = None) -> VerificationReport:
    """Evaluates a compute criterion over its sealed window and records the outcome; `by=None` is govtrack's own
    beat task. Refused (409, WindowNotSealed) before the window has ended plus its lateness allowance.

    An evaluation that gives the very report already stored for the criterion (same window, same data) reuses it;
    when that report was superseded, the report that superseded it stands and nothing is recorded again.
    """
    criterion = MilestoneCriterion.objects.select_related("milestone__organization").get(pk=criterion.pk)
    milestone, organization = criterion.milestone, criterion.milestone.organization
    if by is not None:
        require(permissions.can_evaluate_criterion(by, organization))
    if criterion.kind != CriterionKind.COMPUTE:
        raise Conflict("Only compute criteria are evaluated from telemetry.")
    require_state(milestone, EVALUATED_STATUSES, "evaluate the criteria of")
    config = criterion_config_clean(criterion.config)
    frame, device_ids = _frame(criterion=criterion, config=config, now=now or timezone.now())
    document = report_complete(frame)
    text = report_canonical_text(document)
    digest = sha256_hex(text)
    with transaction.atomic():
        report = VerificationReport.objects.filter(criterion=criterion, sha256=digest).first()
        if report is not None and report_latest(report) != report:
            return report_latest(report)
        if report is None:
            report = _report_create(criterion=criterion, document=document, device_ids=device_ids, by=by, text=text)
        _record(criterion=criterion, report=report)
    if report.passed:
        milestone_verify_if_met(milestone=milestone)
    return report


def report_supersede(
    *, report: VerificationReport, by, reason: str, now: dt.datetime | None = None
) -> VerificationReport:
    """Re-evaluates a report's criterion over the same window, now also reading the late samples received so far,
    as a new report that supersedes it and says why. Audited; a pass may verify a submitted milestone (through the
    transition engine). A verified or released milestone is not undone by a failing re-evaluation: both reports
    stay, and the audit trail shows them."""
    require(permissions.can_evaluate_criterion(by, report.organization))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.for_field("reason", "Say why the report is re-evaluated (it is kept with the report).")
    if len(reason) > MAX_REASON:
        raise ValidationFailed.for_field("reason", f"At most {MAX_REASON} characters.")
    now = now or timezone.now()
    criterion = MilestoneCriterion.objects.select_related("milestone__organization").get(pk=report.criterion_id)
    stored = json.loads(report.canonical_json)
    if stored.get("version") != REPORT_VERSION:
        raise Conflict(f"This report has version {stored.get('version')}; only version {REPORT_VERSION} is re-read.")
    frame = _frame_rebuilt(stored, late_until=now)
    frame["supersedes"] = normalize({"report": report.pk, "sha256": report.sha256, "reason": reason})
    document = report_complete(frame)
    device_ids = [d["id"] for d in stored["devices"] if d.get("id")]
    try:
        with transaction.atomic():
            locked = VerificationReport.objects.select_for_update().get(pk=report.pk)
            following = VerificationReport.objects.filter(supersedes=locked).first()
            if following is not None:
                raise Conflict(f"This report was already superseded by report {following.pk}.")
            new = _report_create(
                criterion=criterion, document=document, device_ids=device_ids, by=by, supersedes=locked, reason=reason
            )
            _record(criterion=criterion, report=new)
    except IntegrityError:
        raise Conflict("This report was superseded meanwhile.") from None
    if new.passed:
        milestone_verify_if_met(milestone=criterion.milestone)
    return new


def milestone_verify_if_met(*, milestone: Milestone) -> Milestone | None:
    """Verifies a submitted milestone once its compute and manual criteria are met (KPIs, period reports and
    compliance are checked by the funding service as it verifies). Returns the milestone when it was verified now."""
    milestone = Milestone.objects.select_related("organization").get(pk=milestone.pk)
    if milestone.status != MilestoneStatus.SUBMITTED:
        return None
    criteria = list(milestone.criteria.all())
    if any(c.kind not in EVALUATED_AT_VERIFY and c.status != CriterionStatus.MET for c in criteria):
        return None
    try:
        return milestone_verify(milestone=milestone, by=None)
    except Conflict as exc:
        logger.info("milestone %s not verified yet: %s", milestone.pk, exc.message)
        return None


def criterion_verify_queued(*, criterion_id) -> dict:
    """The queued evaluation of one criterion (after an ingest sealed its window); beat's tick is the safety net."""
    criterion = (
        MilestoneCriterion.objects.filter(
            pk=criterion_id, kind=CriterionKind.COMPUTE, milestone__status__in=WATCHED_STATUSES
        )
        .exclude(status=CriterionStatus.MET)
        .first()
    )
    if criterion is None:
        return {"criterion": str(criterion_id), "skipped": "gone, met, or its milestone is not watched"}
    try:
        report = criterion_verify(criterion=criterion)
    except WindowNotSealed as exc:
        return {"criterion": str(criterion_id), "waiting": exc.extra.get("evaluable_at")}
    except ApplicationError as exc:
        logger.warning("compute criterion %s could not be evaluated: %s", criterion_id, exc.message)
        return {"criterion": str(criterion_id), "failed": exc.message}
    return {"criterion": str(criterion_id), "report": str(report.pk), "passed": report.passed}


def _settled_without_passing(criterion: MilestoneCriterion) -> bool:
    """A fixed window already evaluated and not met. Its evidence is sealed (a late sample never changes it, and a
    criterion's inputs are never edited), so reading it again gives the same report: beat leaves it (at 64 GPUs over
    7 days a reading is about 20 s). "Evaluate now" and a supersede still read it."""
    config, result = criterion.config or {}, criterion.last_result or {}
    if criterion.status != CriterionStatus.NOT_MET or config.get("window_days") is not None:
        return False
    try:
        return all(
            _parse(str(result[key])) == _parse(str(config[bound]))
            for key, bound in (("window_start", "start"), ("window_end", "end"))
        )
    except (KeyError, ValueError):
        return False


def compute_criteria_verify_due(*, now: dt.datetime | None = None) -> dict:
    """The beat task's work: evaluates the compute criteria not yet met of in-progress and submitted milestones
    (those whose window is not sealed yet are counted as waiting),
    and verifies submitted milestones whose criteria were met earlier. A met criterion is not evaluated again by
    beat (its passing report is the evidence), nor a fixed window already evaluated and not met (`settled`); a
    verified milestone is left alone."""
    now = now or timezone.now()
    counts = {"evaluated": 0, "passed": 0, "waiting": 0, "failed_to_evaluate": 0, "verified": 0, "settled": 0}
    pending = (
        MilestoneCriterion.objects.filter(kind=CriterionKind.COMPUTE, milestone__status__in=WATCHED_STATUSES)
        .exclude(status=CriterionStatus.MET)
        .select_related("milestone__organization")
        .order_by("created_at")
    )
    for criterion in pending:
        if _settled_without_passing(criterion):
            counts["settled"] += 1
            continue
        try:
            report = criterion_verify(criterion=criterion, now=now)
        except WindowNotSealed:
            counts["waiting"] += 1
            continue
        except ApplicationError as exc:
            counts["failed_to_evaluate"] += 1
            logger.warning("compute criterion %s could not be evaluated: %s", criterion.pk, exc.message)
            continue
        counts["evaluated"] += 1
        counts["passed"] += int(report.passed)
    waiting = Milestone.objects.filter(status=MilestoneStatus.SUBMITTED, criteria__kind=CriterionKind.COMPUTE)
    for milestone in waiting.distinct():
        if milestone_verify_if_met(milestone=milestone) is not None:
            counts["verified"] += 1
    return counts


# --- rebuilding --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Rebuild:
    stored_sha256: str
    rebuilt_sha256: str
    text_matches_hash: bool
    differences: list[str]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.text_matches_hash and self.stored_sha256 == self.rebuilt_sha256


def _frame_rebuilt(stored: dict, *, late_until=None, notes: list | None = None) -> dict:
    """A stored report's frame with its points and Merkle roots read again from the database (PromQL reports:
    their own stored series). Late samples are read up to `late_until` (a rebuild: what the report says it read)."""
    frame = report_frame(stored)
    if frame["source"] == ReportSource.PROMQL:
        return frame
    window_data = frame["window"]
    window = Window(_parse(window_data["start"]), _parse(window_data["end"]), window_data["step_seconds"])
    entries = [{k: d[k] for k in ("id", "key", "cadence_seconds")} for d in frame["devices"]]
    devices = _rollup_devices(devices=entries, metric=frame["inputs"]["metric"], window=window, late_until=late_until)
    retained_since = timezone.now() - dt.timedelta(days=settings.COMPUTE_RAW_RETENTION_DAYS)
    if window.start < retained_since:
        # The raw samples of this window have expired: the roots the report carries stand for them.
        for device, before in zip(devices, frame["devices"], strict=True):
            device["raw"] = before["raw"]
        if notes is not None:
            notes.append("the raw samples are past the retention: the Merkle roots are the report's own")
    frame["sealing"] = {**frame["sealing"], "late_samples_included_until": late_until}
    return normalize({**frame, "devices": []}) | {"devices": devices}


def _differences(stored: dict, rebuilt: dict) -> list[str]:
    found = []
    stored_devices = {d["key"]: d for d in stored.get("devices", [])}
    for device in rebuilt.get("devices", []):
        before = stored_devices.get(device["key"], {})
        if before.get("points") != device.get("points"):
            old, new = ({p[0]: p for p in d.get("points", [])} for d in (before, device))
            changed = {minute for minute in old.keys() | new.keys() if old.get(minute) != new.get(minute)}
            found.append(f"device {device['key']}: points of {len(changed)} minute(s) differ")
        if before.get("raw") != device.get("raw"):
            found.append(f"device {device['key']}: raw samples {before.get('raw')!r} -> {device.get('raw')!r}")
        for field in ("samples", "coverage", "value", "covered", "passes"):
            if before.get(field) != device.get(field):
                found.append(f"device {device['key']}: {field} {before.get(field)!r} -> {device.get(field)!r}")
    for field, value in rebuilt.get("result", {}).items():
        if stored.get("result", {}).get(field) != value:
            found.append(f"result {field}: {stored.get('result', {}).get(field)!r} -> {value!r}")
    return found


def report_rebuild(*, report: VerificationReport) -> Rebuild:
    """Recomputes a report from the data it names (rollups and raw samples, only the late samples it says it read;
    or its stored PromQL series) and compares hashes. Late samples that arrived after it do not change it."""
    notes: list[str] = []
    try:
        stored = json.loads(report.canonical_json)
        if stored.get("version") != REPORT_VERSION:
            return Rebuild(report.sha256, "", False, [f"report version {stored.get('version')} is not rebuilt"])
        until = stored["sealing"]["late_samples_included_until"]
        rebuilt = report_complete(_frame_rebuilt(stored, late_until=_parse(until) if until else None, notes=notes))
    except (ValueError, KeyError, TypeError) as exc:
        return Rebuild(report.sha256, "", False, [f"the stored report cannot be read: {exc}"])
    text = report_canonical_text(rebuilt)
    return Rebuild(
        stored_sha256=report.sha256,
        rebuilt_sha256=sha256_hex(text),
        text_matches_hash=sha256_hex(report.canonical_json) == report.sha256,
        differences=_differences(stored, rebuilt),
        notes=notes,
    )


def report_raw_samples_csv(*, report: VerificationReport) -> Iterator[str]:
    """The raw samples a report's Merkle roots cover, as CSV (device,metric,ts,value), in the exact text the leaves
    hash: what `python -m compute_hooks.verify report.json --samples FILE` checks."""
    document = json.loads(report.canonical_json)
    keys = {d["id"]: d["key"] for d in document.get("devices", []) if d.get("id")}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(cells) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(["device", "metric", "ts", "value"])
    if document.get("version") != REPORT_VERSION or document.get("source") != ReportSource.ROLLUPS:
        return
    window = document["window"]
    until = document["sealing"]["late_samples_included_until"]
    metric = document["inputs"]["metric"]
    for device_id, ts, value in raw_samples_for_export(
        device_ids=list(keys),
        metric=metric,
        window=Window(_parse(window["start"]), _parse(window["end"]), window["step_seconds"]),
        late_until=_parse(until) if until else None,
    ):
        yield line([keys[str(device_id)], metric, ts, value])
