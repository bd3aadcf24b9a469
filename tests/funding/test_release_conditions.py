"""The two conditions read from other records hold a tranche until they are met: a period's report approved, and
a passing privacy audit with no serious finding open."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.compliance.services.audits import (
    control_assessment_record,
    privacy_audit_close,
    privacy_audit_start_fieldwork,
    privacy_audit_start_reporting,
)
from apps.compliance.services.findings import finding_create, finding_resolve
from apps.funding.models import ConditionReport, Milestone, ReportingPeriod
from apps.funding.services.conditions import condition_rebuild_matches
from apps.funding.services.reporting import reporting_schedule_set
from tests.compliance.conftest import gdpr, make_audit  # noqa: F401 - fixtures
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def post(client, milestone, step, body=None):
    return client.post(f"/api/milestones/{milestone.pk}/{step}/", body or {}, format="json")


def tranche_with(client, milestone, kind, config):
    response = post(client, milestone, "criteria", {"kind": kind, "description": f"{kind} condition", "config": config})
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_tranche_waits_for_the_periods_report_to_be_approved(org, people, client_for):
    grant = GrantFactory(organization=org)
    period = reporting_schedule_set(grant=grant, by=people["finance"], frequency="quarterly")[0]
    milestone = MilestoneFactory(grant=grant, amount=Decimal("10000"), status="in_progress")
    finance, owner, funder = (client_for(people[r]) for r in ("finance", "owner", "viewer"))
    bad = post(
        finance,
        milestone,
        "criteria",
        {"kind": "report_approved", "description": "x", "config": {"period": str(milestone.pk)}},
    )
    assert bad.json()["extra"]["fields"] == {"config.period": ["Not a reporting period of this milestone's grant."]}
    tranche_with(finance, milestone, "report_approved", {"period": str(period.pk)})
    assert post(client_for(people["engineer"]), milestone, "submit").status_code == 200

    held = post(finance, milestone, "verify")
    assert held.status_code == 409 and "report_approved condition" in held.json()["message"]
    failing = ConditionReport.objects.get()
    assert not failing.passed and '"status":"due"' in failing.canonical_json

    finance.post(f"/api/reporting-periods/{period.pk}/submit/", {"narrative": "Q1"}, format="json")
    assert post(finance, milestone, "verify").status_code == 409  # submitted is not approved
    funder.post(f"/api/reporting-periods/{period.pk}/approve/", {}, format="json")
    body = post(finance, milestone, "verify").json()
    assert body["status"] == "verified"
    assert body["criteria"][0]["last_result"]["passed"] is True
    assert post(owner, milestone, "approve-release").json()["status"] == "released"
    passing = ConditionReport.objects.filter(passed=True).get()
    assert body["criteria"][0]["last_result"]["report_sha256"] == passing.sha256
    assert condition_rebuild_matches(passing)


def _audit_scoring(make_audit, officer, *, failing_refs):  # noqa: F811
    audit = make_audit()
    privacy_audit_start_fieldwork(audit=audit, by=officer)
    for assessment in audit.assessments.select_related("control"):
        result = "non_compliant" if assessment.control.ref in failing_refs else "compliant"
        control_assessment_record(assessment=assessment, by=officer, result=result)
    privacy_audit_start_reporting(audit=audit, by=officer)
    return audit


def test_a_tranche_waits_for_a_passing_audit_without_serious_findings(org, people, officer, client_for, make_audit):  # noqa: F811
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("10000"), status="in_progress")
    finance = client_for(people["finance"])
    criterion = tranche_with(
        finance, milestone, "compliance", {"framework": "gdpr", "min_score": "90", "max_open_severity": "high"}
    )
    assert criterion["config"] == {"framework": "gdpr", "min_score": "90.00", "max_open_severity": "high"}
    assert post(client_for(people["engineer"]), milestone, "submit").status_code == 200
    assert post(finance, milestone, "verify").status_code == 409  # no closed audit yet

    # GDPR-32 weighs 3 of 24: failing it scores 87.50, below 90.
    weak = _audit_scoring(make_audit, officer, failing_refs={"GDPR-32"})
    privacy_audit_close(audit=weak, by=officer)
    held = post(finance, milestone, "verify")
    assert held.status_code == 409
    assert "scores 87.50, below 90.00" in Milestone.objects.get(pk=milestone.pk).criteria.get().last_result["reason"]

    strong = _audit_scoring(make_audit, officer, failing_refs=set())
    finding = finding_create(
        audit=strong,
        title="Backups unencrypted",
        severity="critical",
        owner=officer.username,
        due_date=dt.date(2026, 12, 31),
        by=officer,
    )
    privacy_audit_close(audit=strong, by=officer)
    reason = post(finance, milestone, "verify").json()["message"]
    assert "compliance condition" in reason
    last = Milestone.objects.get(pk=milestone.pk).criteria.get().last_result["reason"]
    assert last == "1 active finding(s) of severity high or above"

    finding_resolve(finding=finding, by=officer)
    assert post(finance, milestone, "verify").json()["status"] == "verified"
    assert post(client_for(people["owner"]), milestone, "approve-release").json()["status"] == "released"
    assert ConditionReport.objects.filter(passed=True).count() == 1
    assert ReportingPeriod.objects.count() == 0


def test_beat_verifies_a_compute_milestone_only_once_its_report_is_approved(org, people):
    from apps.compute.services.verification import milestone_verify_if_met
    from apps.funding.models import MilestoneCriterion
    from apps.funding.services.milestones import criterion_add
    from apps.funding.services.reporting import period_report_approve, period_report_submit

    grant = GrantFactory(organization=org)
    period = reporting_schedule_set(grant=grant, by=people["finance"], frequency="yearly")[0]
    milestone = MilestoneFactory(grant=grant, amount=Decimal("10000"), status="in_progress")
    criterion_add(
        milestone=milestone,
        by=people["finance"],
        kind="report_approved",
        description="Year report",
        config={"period": str(period.pk)},
    )
    # The telemetry criterion already passed (its report is the compute app's; here only its recorded outcome).
    MilestoneCriterion.objects.create(milestone=milestone, kind="compute", description="GPUs", status="met")
    Milestone.objects.filter(pk=milestone.pk).update(status="submitted")

    assert milestone_verify_if_met(milestone=milestone) is None
    period_report_submit(period=period, by=people["finance"], narrative="The year")
    period_report_approve(period=period, by=people["viewer"])
    assert milestone_verify_if_met(milestone=milestone).status == "verified"
