"""The data section of a grant's or an investment's report: everything the PDF states, as plain values, in a fixed
number of queries.

Its canonical JSON (apps.core.canonical) is hashed and the hash printed in the report, so a reader holding the
same data can check the figures were not edited. The time of generation is kept out of it on purpose: the same
grant, unchanged, gives the same hash on every export (the scorecard's compute metrics read the 30 days before
the minute of export, so where the organization has them the hash follows that window).
"""

import json

from django.db.models import Prefetch, Q

from apps.core.canonical import canonical_json, sha256_hex
from apps.dashboard import selectors as dashboard_selectors
from apps.economics.selectors import plan_sections, scorecard
from apps.funding.models import Milestone, MilestoneApproval, MilestoneStatus
from apps.funding.selectors import funding_summary, grant_get, investment_get, milestones_brief_attach
from apps.proofs.selectors import proof_links_active_by_milestone, proof_url
from apps.risks.selectors import risk_list

# 2: named approvals, paid dates per milestone, the grant's own risk registers. Sections added since (budget lines,
# the scorecard) enter the data only when present, so the data of a report without them is unchanged.
REPORT_VERSION = "2"


def grant_report_export_get(*, user, pk):
    from apps.reports.models import GrantReportExport
    from apps.tenancy.scoping import get_scoped

    return get_scoped(GrantReportExport.objects.select_related("grant", "organization"), user=user, pk=pk)


def grant_for_report(*, user, pk):
    """The grant as the report reads it (scoped to the user's organizations: another's is NotFound)."""
    return grant_get(user=user, pk=pk)


def _verification(report) -> dict:
    document = json.loads(report.canonical_json)
    result = document.get("result", {})
    return {
        "sha256": report.sha256,
        "passed": report.passed,
        "value": report.value,
        "source": report.source,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "devices_counted": report.devices_counted,
        "threshold": result.get("threshold"),
        "comparison": result.get("comparison"),
        "devices": [
            {"key": d.get("key"), "value": d.get("value"), "coverage": d.get("coverage"), "passes": d.get("passes")}
            for d in document.get("devices", [])
        ],
    }


def _risks(*, user, org, names: list[str]) -> dict:
    """The open risks of the registers that cover the grant or investment (a register's `program` names its title,
    or a grant's programme or reference); a funder reads about what it funds, not the company's whole strategy
    register."""
    names = [name for name in names if name]
    covers = Q()
    for name in names:
        covers |= Q(register__program__iexact=name)
    risks = list(
        risk_list(user=user)
        .filter(covers, organization=org)
        .exclude(status="closed")
        .select_related(None)
        .select_related("register__matrix")
        .order_by("ref")
    )
    by_level: dict[str, int] = {}
    rows = []
    for risk in risks:
        matrix = risk.register.matrix
        level = matrix.level_of(risk.residual_likelihood, risk.residual_impact) or "unrated"
        by_level[level] = by_level.get(level, 0) + 1
        rows.append(
            {
                "register": risk.register.name,
                "ref": risk.ref,
                "title": risk.title,
                "status": risk.status,
                "inherent": risk.inherent_likelihood * risk.inherent_impact,
                "residual": risk.residual_likelihood * risk.residual_impact,
                "residual_level": level,
            }
        )
    rows.sort(key=lambda row: (-row["residual"], row["ref"]))
    return {"open": len(risks), "by_residual_level": by_level, "top": rows}


def _compliance(*, user, org) -> list[dict]:
    return [
        {
            "framework": entry["framework"].name,
            "audit": entry["audit"].title,
            "status": entry["audit"].status,
            "score": entry["score"],
            "coverage": entry["coverage"],
        }
        for entry in dashboard_selectors.compliance_scores(user=user, org=org)
    ]


def _milestones(parent) -> list[Milestone]:
    return list(
        Milestone.objects.filter(**{parent._meta.model_name: parent})
        .prefetch_related(
            "criteria",
            "evidence",
            "disbursements",
            Prefetch("approvals", MilestoneApproval.objects.select_related("user").order_by("created_at")),
        )
        .order_by("due_date", "created_at")
    )


def _milestone_sections(*, user, parent) -> dict:
    """The milestones (criteria, named approvals, verification, evidence, proof link), their counts by status and
    the disbursements: what a grant's and an investment's reports print alike."""
    milestones = _milestones(parent)
    reports = dashboard_selectors.latest_reports_by_milestone(user=user, milestone_ids=[m.pk for m in milestones])
    proofs = proof_links_active_by_milestone(milestone_ids=[m.pk for m in milestones])
    return {
        "milestones": [
            {
                "id": m.pk,
                "title": m.title,
                "status": m.status,
                "due_date": m.due_date,
                "amount": m.amount,
                "amount_disbursed": m.amount_disbursed,
                "released_at": m.released_at,
                "paid_on": sorted({d.paid_on for d in m.disbursements.all()}),
                "approvals": [
                    {"user": a.user.get_username(), "role": a.role, "purpose": a.purpose, "at": a.created_at}
                    for a in m.approvals.all()
                ],
                "criteria": [
                    {"kind": c.kind, "description": c.description, "status": c.status} for c in m.criteria.all()
                ],
                "verification": [_verification(r) for r in reports.get(m.pk, [])],
                "evidence": [
                    {"name": e.original_name, "sha256": e.sha256, "size": e.size, "uploaded_at": e.created_at}
                    for e in m.evidence.all()
                ],
                "proof_url": proof_url(proofs[m.pk]) if m.pk in proofs else None,
            }
            for m in milestones
        ],
        "milestone_counts": {
            status: sum(1 for m in milestones if m.status == status)
            for status in MilestoneStatus.values
            if any(m.status == status for m in milestones)
        },
        "disbursements": [
            {
                "paid_on": d.paid_on,
                "amount": d.amount,
                "currency": d.currency,
                "kind": d.kind,
                "reference": d.reference,
                "milestone": d.milestone.title,
            }
            for d in dashboard_selectors.disbursements_of(user=user, parent=parent)
        ],
    }


def _budget(parent) -> dict:
    summary = funding_summary(parent)
    return {
        key: summary[key]
        for key in ("budget", "committed", "released", "released_unpaid", "escrowed", "disbursed", "undisbursed")
    }


def _scorecard(*, org) -> dict:
    """The organization's success metrics on target / at risk / off target with their trend (apps/economics), as
    plain values; empty when it has none, so a report without a scorecard keeps its data (and hash) as before."""
    rows = scorecard(organization=org)
    if not rows:
        return {}
    return {
        "scorecard": [
            {
                "key": row["metric"].key,
                "name": row["metric"].name,
                "direction": row["metric"].direction,
                "target": row["metric"].target,
                "unit": row["metric"].unit,
                "growth": row["metric"].growth,
                "value": row["value"],
                "status": row["status"],
                "trend": [point["value"] for point in row["trend"]],
            }
            for row in rows
        ]
    }


def grant_report_data(*, user, grant, chain_records=None) -> dict:
    """The data section. `grant` comes from `grant_for_report` (with its brief milestones attached)."""
    if not hasattr(grant, "brief_milestones"):
        milestones_brief_attach([grant])
    org = grant.organization
    chain = chain_records if chain_records is not None else dashboard_selectors.chain_records_for(parent=grant)
    return {
        "report_version": REPORT_VERSION,
        "organization": {"id": org.pk, "name": org.name},
        "grant": {
            "id": grant.pk,
            "title": grant.title,
            "funder": grant.funder.name,
            "program": grant.program,
            "reference": grant.reference,
            "status": grant.status,
            "currency": grant.currency,
            "amount_requested": grant.amount_requested,
            "amount_awarded": grant.amount_awarded,
            "period_start": grant.period_start,
            "period_end": grant.period_end,
            "focus_areas": grant.focus_areas,
        },
        "budget": _budget(grant),
        **_milestone_sections(user=user, parent=grant),
        "chain": chain,
        "risks": _risks(user=user, org=org, names=[grant.title, grant.program, grant.reference]),
        "compliance": _compliance(user=user, org=org),
        # Budget lines, metered compute cost and reporting periods, when the grant has them (apps/economics).
        **plan_sections(parent=grant),
        # The success metrics, when the organization has them (apps/economics).
        **_scorecard(org=org),
    }


def investment_for_report(*, user, pk):
    """The investment as the report reads it (scoped to the user's organizations: another's is NotFound)."""
    return investment_get(user=user, pk=pk)


def investment_report_data(*, user, investment) -> dict:
    """The data section of an investment's report: its terms and the investor's criteria, then the same sections
    as a grant's. `investment` comes from `investment_for_report`."""
    if not hasattr(investment, "brief_milestones"):
        milestones_brief_attach([investment])
    org = investment.organization
    return {
        "report_version": REPORT_VERSION,
        "organization": {"id": org.pk, "name": org.name},
        "investment": {
            "id": investment.pk,
            "title": investment.title,
            "investor": investment.investor.name,
            "instrument": investment.instrument,
            "status": investment.status,
            "currency": investment.currency,
            "committed_amount": investment.committed_amount,
            "closing_date": investment.closing_date,
            "owner": investment.owner.get_username() if investment.owner else None,
            "description": investment.description,
            "criteria": [
                {
                    "criterion": c.criterion,
                    "assessment": c.assessment,
                    "notes": c.notes,
                    "assessed_by": c.assessed_by.get_username() if c.assessed_by else None,
                    "assessed_at": c.assessed_at,
                }
                for c in investment.ethical_criteria.all()
            ],
        },
        "budget": _budget(investment),
        **_milestone_sections(user=user, parent=investment),
        "chain": dashboard_selectors.chain_records_for(parent=investment),
        "risks": _risks(user=user, org=org, names=[investment.title]),
        "compliance": _compliance(user=user, org=org),
        **plan_sections(parent=investment),
        **_scorecard(org=org),
    }


def data_sha256(data: dict) -> str:
    return sha256_hex(canonical_json(data))
