"""Reads for the dashboard pages: a fixed number of queries each, scoped to the user and the current organization.

The apps' own selectors do the scoping (`apps.tenancy.scoping.scope_to_user`); these add the current organization
and the aggregates a page shows. Nothing here loops over rows issuing queries, so a page costs the same number of
queries for one grant or a thousand.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Avg, Case, Count, Max, Q, Sum, Value, When
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from apps.compliance.models import ACTIVE_FINDING_STATUSES, ControlAssessment, Severity
from apps.compliance.scoring import score_assessments
from apps.compliance.selectors import finding_list, privacy_audit_list
from apps.compute.models import DeviceKind, SampleRollup
from apps.compute.selectors import device_list, report_list, source_list
from apps.escrow.models import (
    OPEN_TX_STATUSES,
    ChainTx,
    ChainTxKind,
    EscrowAgreement,
    EscrowMilestone,
)
from apps.escrow.selectors import escrow_held, escrow_overview
from apps.funding.machines import organization_shared
from apps.funding.models import (
    OPEN_MILESTONE_STATUSES,
    GrantStatus,
    InvestmentStatus,
    Milestone,
    MilestoneStatus,
)
from apps.funding.selectors import disbursement_list, grant_list, investment_list, milestone_list
from apps.risks.selectors import risk_heat_map, risk_list, risk_register_list
from apps.tenancy.models import Organization
from apps.tenancy.scoping import scope_to_user

DUE_SOON_DAYS = 30
LIST_LIMIT = 10
# The metric that stands for "utilization" of each device kind (what the compute hooks report).
UTILIZATION_METRICS = {DeviceKind.GPU: "gpu.utilization", DeviceKind.EDGE: "cpu.utilization"}
UTILIZATION_RANGES = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}
# Hours for a day's chart; days for longer ranges: at most a few dozen points a series.
BUCKET_FOR_RANGE = {"24h": TruncHour, "7d": TruncHour, "30d": TruncDay}
FINDING_AGE_BUCKETS = (("under 30 days", 0, 30), ("30 to 90 days", 30, 90), ("over 90 days", 90, None))


# --- funding -----------------------------------------------------------------------------------------------------


def funding_pipeline(*, user, org) -> dict:
    """Grants and investments per status (in the state machine's order), with their amounts per currency."""
    grants = (
        grant_list(user=user)
        .filter(organization=org)
        .values("status", "currency")
        .annotate(n=Count("id"), requested=Sum("amount_requested"), awarded=Sum("amount_awarded"))
        .order_by()
    )
    investments = (
        investment_list(user=user)
        .filter(organization=org)
        .values("status", "currency")
        .annotate(n=Count("id"), committed=Sum("committed_amount"))
        .order_by()
    )
    grant_rows = {
        status: {"status": status, "label": label, "count": 0, "amounts": []} for status, label in GrantStatus.choices
    }
    for row in grants:
        entry = grant_rows[row["status"]]
        entry["count"] += row["n"]
        entry["amounts"].append({"currency": row["currency"], "amount": row["awarded"] or row["requested"]})
    investment_rows = {
        status: {"status": status, "label": label, "count": 0, "amounts": []}
        for status, label in InvestmentStatus.choices
    }
    for row in investments:
        entry = investment_rows[row["status"]]
        entry["count"] += row["n"]
        entry["amounts"].append({"currency": row["currency"], "amount": row["committed"]})
    return {
        "grants": list(grant_rows.values()),
        "investments": list(investment_rows.values()),
        "grant_count": sum(row["count"] for row in grant_rows.values()),
        "investment_count": sum(row["count"] for row in investment_rows.values()),
    }


CHAIN_RECORD_KINDS = (ChainTxKind.CREATE, ChainTxKind.ATTEST, ChainTxKind.REFUND, ChainTxKind.CLAIM_REFUND)


def escrow_totals(*, org) -> dict:
    """Per currency, what the escrow contract holds for the organization (`apps.escrow.selectors.escrow_held`)."""
    of_org = EscrowMilestone.objects.filter(agreement__organization=org)
    return escrow_held(milestones=of_org, per="agreement__currency")


def money_flow(*, user, org) -> list[dict]:
    """Per currency: committed in milestones, escrowed, released, refunded and disbursed."""
    rows = (
        milestone_list(user=user)
        .filter(organization=org)
        .values("currency")
        .annotate(
            committed=Sum("amount", filter=~Q(status=MilestoneStatus.REFUNDED)),
            released=Sum("amount", filter=Q(status=MilestoneStatus.RELEASED)),
            released_disbursed=Sum("amount_disbursed", filter=Q(status=MilestoneStatus.RELEASED)),
            refunded=Sum("amount", filter=Q(status=MilestoneStatus.REFUNDED)),
            disbursed=Sum("amount_disbursed"),
        )
        .order_by("currency")
    )
    escrowed = escrow_totals(org=org)
    zero = Decimal(0)
    return [
        {
            "currency": row["currency"],
            "committed": row["committed"] or zero,
            "escrowed": escrowed.get(row["currency"], zero),
            "released": row["released"] or zero,
            "released_unpaid": (row["released"] or zero) - (row["released_disbursed"] or zero),
            "refunded": row["refunded"] or zero,
            "disbursed": row["disbursed"] or zero,
        }
        for row in rows
    ]


def milestones_due(*, user, org, today: dt.date | None = None) -> dict:
    """Open milestones due in the next 30 days and those overdue: the first ten of each and the counts."""
    today = today or timezone.localdate()
    open_milestones = (
        milestone_list(user=user)
        .filter(organization=org, status__in=OPEN_MILESTONE_STATUSES)
        .select_related(None)
        .select_related("grant", "investment")
        .prefetch_related(None)
        .order_by("due_date", "created_at")
    )
    soon = Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=DUE_SOON_DAYS))
    overdue = Q(due_date__lt=today)
    counts = open_milestones.aggregate(soon=Count("id", filter=soon), overdue=Count("id", filter=overdue))
    return {
        "today": today,
        "days": DUE_SOON_DAYS,
        "soon": list(open_milestones.filter(soon)[:LIST_LIMIT]),
        "overdue": list(open_milestones.filter(overdue)[:LIST_LIMIT]),
        "soon_count": counts["soon"],
        "overdue_count": counts["overdue"],
    }


def pending_chain_transactions(*, org) -> list:
    """Chain transactions not yet final (queued, signed, sent or mined awaiting confirmations)."""
    txs = ChainTx.objects.filter(organization=org, status__in=OPEN_TX_STATUSES).order_by("created_at")
    return [
        {"kind": tx.get_kind_display(), "status": tx.status, "tx_hash": tx.tx_hash, "created_at": tx.created_at}
        for tx in txs[:LIST_LIMIT]
    ]


def _parent_filter(parent) -> dict:
    """`{"grant": parent}` or `{"investment": parent}`: a milestone, an agreement or a line has one of the two."""
    return {"grant" if parent._meta.model_name == "grant" else "investment": parent}


def escrow_for(*, parent) -> list[dict]:
    """The escrow section of a grant's or an investment's page (apps/escrow/selectors.py says what it holds)."""
    return escrow_overview(parent=parent)


def escrow_of(*, parent) -> dict:
    """A grant's or an investment's escrow parts, from one read of its agreements: the escrow section, whether a
    contract holding one of them is paused by its owner, and the chain records (None when it is not escrowed)."""
    escrow = escrow_for(parent=parent)
    return {
        "escrow": escrow,
        "chain_paused": any(entry["agreement"].contract_paused for entry in escrow),
        "chain_records": _chain_records(parent=parent) if escrow else None,
    }


def chain_records_for(*, parent) -> list | None:
    """The agreement, attestation and refund transactions of a grant or an investment with their evidence hashes;
    None when it is not escrowed (no agreement for it)."""
    if not EscrowAgreement.objects.filter(**_parent_filter(parent)).exists():
        return None
    return _chain_records(parent=parent)


def _chain_records(*, parent) -> list:
    agreement = {f"agreement__{key}": value for key, value in _parent_filter(parent).items()}
    txs = (
        ChainTx.objects.filter(**agreement, kind__in=CHAIN_RECORD_KINDS)
        .select_related("escrow_milestone__milestone")
        .order_by("created_at")
    )
    return [
        {
            "kind": tx.kind,
            "milestone": tx.escrow_milestone.milestone.title if tx.escrow_milestone_id else "",
            "tx_hash": tx.tx_hash,
            "evidence_hash": (tx.params or {}).get("evidence_hash", ""),
            "status": tx.status,
            "block_number": tx.block_number,
        }
        for tx in txs
    ]


# --- grants ------------------------------------------------------------------------------------------------------


def grants_of_org(*, user, org, status: str | None = None):
    grants = grant_list(user=user).filter(organization=org).order_by("-created_at")
    if status:
        grants = grants.filter(status=status)
    return grants


def investments_of_org(*, user, org, status: str | None = None, instrument: str | None = None):
    investments = investment_list(user=user).filter(organization=org)
    if status:
        investments = investments.filter(status=status)
    if instrument:
        investments = investments.filter(instrument=instrument)
    return investments


def parent_milestones(*, parent) -> list[Milestone]:
    """A grant's or an investment's milestones in due order with criteria, evidence, approvals, disbursements, the
    escrow row and the organization's policy (what their actions are decided from), in a constant number of
    queries."""
    milestones = list(
        Milestone.objects.filter(**_parent_filter(parent))
        .select_related("escrow")
        .prefetch_related("criteria__approvals", "evidence", "approvals__user", "disbursements")
        .order_by("due_date", "created_at")
    )
    return organization_shared(milestones, parent.organization)


def latest_reports_by_milestone(*, user, milestone_ids) -> dict:
    """The newest verification report of each criterion, grouped by milestone (one query)."""
    reports = (
        report_list(user=user)
        .filter(milestone_id__in=list(milestone_ids))
        .defer(None)
        .select_related(None)
        .order_by("milestone_id", "criterion_id", "-created_at")
    )
    latest: dict = {}
    seen = set()
    for report in reports:
        if report.criterion_id in seen:
            continue
        seen.add(report.criterion_id)
        latest.setdefault(report.milestone_id, []).append(report)
    return latest


def disbursements_of(*, user, parent):
    """The payments recorded against a grant's or an investment's milestones, newest first; each entry with the one
    it voids, or the void that cancels it (both show)."""
    milestone = {f"milestone__{key}": value for key, value in _parent_filter(parent).items()}
    return (
        disbursement_list(user=user)
        .filter(**milestone)
        .select_related("voids", "voided_by")
        .order_by("-paid_on", "-created_at")
    )


# --- compute -----------------------------------------------------------------------------------------------------


LAST_DATA_WINDOW = dt.timedelta(days=1)


def compute_overview(*, user, org, now: dt.datetime | None = None) -> dict:
    """Sources and devices, each with when it was last heard from: a device's own stamp or its newest rollup of
    the last day, whichever is later; a source's last successful pull, or else its devices' newest data."""
    now = now or timezone.now()
    sources = list(source_list(user=user).filter(organization=org).annotate(device_count=Count("devices")))
    devices = list(device_list(user=user).filter(organization=org).order_by("kind", "key"))
    newest = dict(
        SampleRollup.objects.filter(device__organization=org, minute__gte=now - LAST_DATA_WINDOW)
        .values("device_id")
        .annotate(last=Max("minute"))
        .values_list("device_id", "last")
    )
    for device in devices:
        stamps = [t for t in (device.last_seen_at, newest.get(device.pk)) if t is not None]
        device.last_data_at = max(stamps) if stamps else None
    for source in sources:
        stamps = [d.last_data_at for d in devices if d.source_id == source.pk and d.last_data_at is not None]
        source.last_data_at = source.last_success_at or (max(stamps) if stamps else None)
    return {"sources": sources, "devices": devices}


UTILIZATION_CACHE_SECONDS = 60


def fleet_utilization(*, user, org, range_key: str = "24h", device_id=None, now: dt.datetime | None = None) -> dict:
    """Average utilization per time bucket for each device kind (GPUs, edge boards), from the per-minute rollups.

    One grouped query, kept for a minute per organization, range and device: the rollups it reads change once a
    minute, and the overview and the compute page then skip a scan of a whole fleet's day of rollups.
    """
    range_key = range_key if range_key in UTILIZATION_RANGES else "24h"
    now = now or timezone.now()
    start = now - UTILIZATION_RANGES[range_key]
    # The user's membership is checked here, not cached: the cached rows are the organization's, not the user's.
    scoped = scope_to_user(Organization.objects.filter(pk=org.pk), user=user, org_field="pk").exists()
    if not scoped:
        return {"range": range_key, "start": start, "end": now, "series": []}
    key = f"dashboard:utilization:{org.pk}:{range_key}:{device_id or 'all'}:{now:%Y%m%d%H%M}"
    series = cache.get(key)
    if series is None:
        series = _utilization_series(org=org, start=start, end=now, range_key=range_key, device_id=device_id)
        cache.set(key, series, UTILIZATION_CACHE_SECONDS)
    return {"range": range_key, "start": start, "end": now, "series": series}


def _utilization_series(*, org, start, end, range_key: str, device_id) -> list[dict]:
    condition = Q()
    for kind, metric in UTILIZATION_METRICS.items():
        condition |= Q(device__kind=kind, metric=metric)
    rollups = SampleRollup.objects.filter(condition, device__organization=org, minute__gte=start, minute__lt=end)
    if device_id:
        rollups = rollups.filter(device_id=device_id)
    rows = (
        rollups.annotate(bucket=BUCKET_FOR_RANGE[range_key]("minute"))
        .values("device__kind", "bucket")
        .annotate(value=Avg("avg"))
        .order_by("bucket")
    )
    series: dict = defaultdict(list)
    for row in rows:
        series[row["device__kind"]].append((row["bucket"], round(row["value"], 1)))
    labels = dict(DeviceKind.choices)
    return [
        {"kind": kind, "label": labels.get(kind, kind), "points": points} for kind, points in sorted(series.items())
    ]


def device_of_org(*, user, org, pk):
    return device_list(user=user).filter(organization=org, pk=pk).first()


# --- compliance --------------------------------------------------------------------------------------------------


def compliance_scores(*, user, org) -> list[dict]:
    """The latest audit of each framework with its live score and progress (two queries)."""
    audits = privacy_audit_list(user=user, organization_id=org.pk).order_by("-period_end", "-created_at")
    latest: dict = {}
    for audit in audits:
        latest.setdefault(audit.framework_version.framework_id, audit)
    rows = (
        ControlAssessment.objects.filter(audit_id__in=[a.pk for a in latest.values()])
        .values_list("audit_id", "control__section", "result", "control__weight")
        .order_by("audit_id", "control__position")
    )
    by_audit: dict = defaultdict(list)
    for audit_id, section, result, weight in rows:
        by_audit[audit_id].append((section, result, weight))
    scores = []
    for audit in latest.values():
        score = score_assessments(by_audit.get(audit.pk, []))
        scores.append({"audit": audit, "framework": audit.framework_version.framework, **score})
    return sorted(scores, key=lambda entry: entry["framework"].name)


def audits_of_org(*, user, org):
    return privacy_audit_list(user=user, organization_id=org.pk).order_by("-period_end", "-created_at")


def findings_summary(*, user, org, today: dt.date | None = None) -> dict:
    """Active findings by severity and age (days since recorded), in one grouped query."""
    today = today or timezone.localdate()
    findings = finding_list(user=user, organization_id=org.pk).filter(status__in=ACTIVE_FINDING_STATUSES)
    annotations = {}
    for index, (_label, low, high) in enumerate(FINDING_AGE_BUCKETS):
        condition = Q(created_at__date__lte=today - dt.timedelta(days=low))
        if high is not None:
            condition &= Q(created_at__date__gt=today - dt.timedelta(days=high))
        annotations[f"age{index}"] = Count("id", filter=condition)
    rows = {row["severity"]: row for row in findings.values("severity").annotate(**annotations).order_by()}
    table = []
    for severity, label in reversed(Severity.choices):
        row = rows.get(severity, {})
        counts = [row.get(f"age{index}", 0) for index in range(len(FINDING_AGE_BUCKETS))]
        table.append({"severity": severity, "label": label, "counts": counts, "total": sum(counts)})
    return {"buckets": [label for label, _, _ in FINDING_AGE_BUCKETS], "rows": table}


def findings_of_org(*, user, org, severity: str | None = None, status: str | None = None, overdue: bool = False):
    findings = finding_list(
        user=user, organization_id=org.pk, severity=severity or None, status=status or None, overdue=overdue or None
    )
    # Severity sorts by weight (low < medium < high < critical), not by its name.
    rank = Case(*(When(severity=key, then=Value(i)) for i, key in enumerate(Severity.values)), default=Value(0))
    return findings.annotate(severity_rank=rank).order_by("due_date")


# --- risks -------------------------------------------------------------------------------------------------------


def registers_of_org(*, user, org):
    return risk_register_list(user=user).filter(organization=org).order_by("name")


def heat_map_for(*, user, org, register_id=None, risks=None, include_closed: bool = False) -> dict | None:
    """The heat map (inherent, current, residual) of the chosen register, or of the organization's first one;
    `risks` (the register's filtered list) narrows what it counts to what the list shows."""
    registers = list(registers_of_org(user=user, org=org))
    if not registers:
        return None
    register = next((r for r in registers if str(r.pk) == str(register_id)), registers[0])
    heat_map = risk_heat_map(register=register, filtered=risks, include_closed=include_closed)
    matrix = heat_map["matrix"]
    level_labels = {level["key"]: level["label"] for level in matrix["levels"]}
    rows = []
    # Highest likelihood first, as a heat map is read.
    for likelihood in range(len(matrix["likelihood_labels"]), 0, -1):
        cells = [cell for cell in heat_map["cells"] if cell["likelihood"] == likelihood]
        rows.append({"label": matrix["likelihood_labels"][likelihood - 1], "likelihood": likelihood, "cells": cells})
    return {
        "register": register,
        "registers": registers,
        "rows": rows,
        "impact_labels": matrix["impact_labels"],
        "level_labels": level_labels,
        "total": heat_map["total"],
        "stages": (("inherent", "Inherent (before controls)"), ("residual", "Residual (after mitigation)")),
    }


def risks_of_org(*, user, org, register_id=None, status: str | None = None, category: str | None = None):
    risks = risk_list(user=user).filter(organization=org)
    if register_id:
        risks = risks.filter(register_id=register_id)
    if status:
        risks = risks.filter(status=status)
    if category:
        risks = risks.filter(category=category)
    return risks.order_by("register__name", "ref")


def risk_categories_of_org(registers) -> list[str]:
    """Every category the organization's registers name, for the filter's choices."""
    return sorted({category for register in registers for category in register.categories})


def verification_reports_of_org(*, user, org):
    return report_list(user=user).filter(organization=org)
