"""Verification of compute criteria: each evaluation writes a VerificationReport (canonical JSON + SHA-256); a pass
is recorded on the criterion, and a submitted milestone whose criteria are all met is verified.

Verifying goes through apps.funding.services.milestones.milestone_verify; the release approvals of the organization's
policy follow, and for an escrowed milestone they queue the attestation with the report's hash.
"""

import dataclasses
import datetime as dt
import json
import logging

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.compute import permissions
from apps.compute.criteria import criterion_config_clean
from apps.compute.evaluation import (
    REPORT_VERSION,
    Window,
    devices_selected,
    document_from_frame,
    promql_series,
    rollup_query_text,
    window_for,
)
from apps.compute.models import ComputeSource, ReportSource, VerificationReport
from apps.core.canonical import canonical_json, normalize, sha256_hex
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from apps.core.states import require_state
from apps.funding.models import CriterionKind, CriterionStatus, Milestone, MilestoneCriterion, MilestoneStatus
from apps.funding.services.milestones import criterion_record_result, milestone_verify
from apps.tenancy.services import require

logger = logging.getLogger(__name__)

EVALUATED_STATUSES = (MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED)
WATCHED_STATUSES = (MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED)  # what beat evaluates
FRAME_DEVICE_KEYS = ("id", "key")
# Criteria the funding service evaluates as it verifies (from KPI readings, period reports, audits).
EVALUATED_AT_VERIFY = (CriterionKind.KPI, CriterionKind.REPORT_APPROVED, CriterionKind.COMPLIANCE)


def _frame(*, criterion: MilestoneCriterion, config: dict, window: Window) -> dict:
    milestone = criterion.milestone
    organization = milestone.organization
    frame = {
        "version": REPORT_VERSION,
        "organization": organization.pk,
        "milestone": milestone.pk,
        "criterion": criterion.pk,
        "inputs": config,
        "window": window.as_dict(),
    }
    if config["promql"]:
        source = ComputeSource.objects.filter(pk=config["source"], organization=organization).first()
        if source is None:
            raise ValidationFailed.for_field("config.source", "Unknown compute source in this organization.")
        query, series = promql_series(source=source, config=config, window=window)
        frame |= {
            "source": ReportSource.PROMQL,
            "query": query,
            "series": series,
            "devices": [{"id": None, "key": s["device"]} for s in series],
        }
    else:
        devices = devices_selected(
            organization=organization, selector=config["device_selector"], kind=config["device_kind"]
        )
        frame |= {
            "source": ReportSource.ROLLUPS,
            "query": rollup_query_text(metric=config["metric"], window=window, device_count=len(devices)),
            "series": [{"device": d.key, "metric": config["metric"]} for d in devices],
            "devices": [{"id": d.pk, "key": d.key} for d in devices],
        }
    return normalize(frame)


def criterion_verify(*, criterion: MilestoneCriterion, by=None, now: dt.datetime | None = None) -> VerificationReport:
    """Evaluates a compute criterion now and records the outcome; `by=None` is govtrack's own beat task.

    An evaluation that gives the very report already stored for the criterion (same window, same data) reuses it.
    """
    criterion = MilestoneCriterion.objects.select_related("milestone__organization").get(pk=criterion.pk)
    milestone, organization = criterion.milestone, criterion.milestone.organization
    if by is not None:
        require(permissions.can_evaluate_criterion(by, organization))
    if criterion.kind != CriterionKind.COMPUTE:
        raise Conflict("Only compute criteria are evaluated from telemetry.")
    require_state(milestone, EVALUATED_STATUSES, "evaluate the criteria of")
    config = criterion_config_clean(criterion.config)
    window = window_for(config, now or timezone.now())
    frame = _frame(criterion=criterion, config=config, window=window)
    document = document_from_frame(frame)
    text = canonical_json(document)
    digest = sha256_hex(text)
    result = document["result"]
    with transaction.atomic():
        report = VerificationReport.objects.filter(criterion=criterion, sha256=digest).first()
        if report is None:
            report = VerificationReport.objects.create(
                organization=organization,
                criterion=criterion,
                milestone=milestone,
                source=frame["source"],
                window_start=window.start,
                window_end=window.end,
                passed=result["passed"],
                value=result["fleet_value"],
                devices_counted=result["devices_counted"],
                query=frame["query"],
                canonical_json=text,
                sha256=digest,
            )
            audit_record(
                action="compute.verification_reported",
                actor=by,
                organization=organization,
                obj=report,
                after={"criterion": str(criterion.pk), "passed": result["passed"], "sha256": digest},
            )
        criterion_record_result(
            criterion=criterion,
            passed=result["passed"],
            result=normalize(
                {
                    "report_id": report.pk,
                    "report_sha256": digest,
                    "source": frame["source"],
                    "window_start": window.start,
                    "window_end": window.end,
                    "fleet_value": result["fleet_value"],
                    "devices_counted": result["devices_counted"],
                    "passed": result["passed"],
                }
            ),
            by=None,
        )
    if result["passed"]:
        milestone_verify_if_met(milestone=milestone)
    return report


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


def compute_criteria_verify_due(*, now: dt.datetime | None = None) -> dict:
    """The beat task's work: evaluates the compute criteria not yet met of in-progress and submitted milestones,
    and verifies submitted milestones whose criteria were met earlier. A met criterion is not evaluated again by
    beat (its passing report is the evidence); a verified milestone is left alone."""
    now = now or timezone.now()
    counts = {"evaluated": 0, "passed": 0, "failed_to_evaluate": 0, "verified": 0}
    pending = (
        MilestoneCriterion.objects.filter(kind=CriterionKind.COMPUTE, milestone__status__in=WATCHED_STATUSES)
        .exclude(status=CriterionStatus.MET)
        .select_related("milestone__organization")
        .order_by("created_at")
    )
    for criterion in pending:
        try:
            report = criterion_verify(criterion=criterion, now=now)
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

    @property
    def ok(self) -> bool:
        return self.text_matches_hash and self.stored_sha256 == self.rebuilt_sha256


def _frame_of(document: dict) -> dict:
    frame = {key: value for key, value in document.items() if key != "result"}
    frame["devices"] = [{k: d.get(k) for k in FRAME_DEVICE_KEYS} for d in document.get("devices", [])]
    return frame


def _differences(stored: dict, rebuilt: dict) -> list[str]:
    found = []
    stored_devices = {d["key"]: d for d in stored.get("devices", [])}
    for device in rebuilt.get("devices", []):
        before = stored_devices.get(device["key"], {})
        for field in ("points", "coverage", "value", "covered", "passes"):
            if before.get(field) != device.get(field):
                found.append(f"device {device['key']}: {field} {before.get(field)!r} -> {device.get(field)!r}")
    for field, value in rebuilt.get("result", {}).items():
        if stored.get("result", {}).get(field) != value:
            found.append(f"result {field}: {stored.get('result', {}).get(field)!r} -> {value!r}")
    return found


def report_rebuild(*, report: VerificationReport) -> Rebuild:
    """Recomputes a report from the data it names (rollups, or its stored PromQL series) and compares hashes."""
    try:
        stored = json.loads(report.canonical_json)
        rebuilt = normalize(document_from_frame(_frame_of(stored)))
    except (ValueError, KeyError, TypeError) as exc:
        return Rebuild(report.sha256, "", False, [f"the stored report cannot be read: {exc}"])
    text = canonical_json(rebuilt)
    return Rebuild(
        stored_sha256=report.sha256,
        rebuilt_sha256=sha256_hex(text),
        text_matches_hash=sha256_hex(report.canonical_json) == report.sha256,
        differences=_differences(stored, rebuilt),
    )
