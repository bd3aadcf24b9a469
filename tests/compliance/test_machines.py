"""Privacy audits and findings run on the transition engine: each action, each role, the wrong state, the API's
`allowed_actions` and the rules that depend on the row (a finding's owner, who resolved it)."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance.machines import AUDITS, FINDINGS
from apps.compliance.models import Finding, FindingStatus, PrivacyAudit
from apps.compliance.services.findings import finding_create, findings_expire_acceptances
from apps.core.errors import PermissionDenied
from apps.tenancy.models import Role
from tests.transition_table import Row, check_row, table_covers_machine

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
WRITERS = frozenset({Role.OWNER, Role.COMPLIANCE})
ACCEPT = {"reason": "Legacy system retires in Q3", "expires_on": str(TODAY + dt.timedelta(days=30))}

AUDIT_TABLE = [
    Row("start_fieldwork", "planned", "fieldwork", WRITERS, wrong_state="reporting"),
    Row("start_reporting", "fieldwork", "reporting", WRITERS, wrong_state="planned"),
    Row("close", "reporting", "closed", WRITERS, wrong_state="fieldwork"),
]
FINDING_TABLE = [
    Row("start_remediation", "open", "remediating", WRITERS, wrong_state="resolved"),
    Row("resolve", "remediating", "resolved", WRITERS, wrong_state="verified"),
    Row("verify", "resolved", "verified", WRITERS, wrong_state="open"),
    Row("reopen", "risk_accepted", "open", WRITERS, wrong_state="remediating", body={"reason": "Not fixed after all"}),
    Row("accept_risk", "open", "risk_accepted", WRITERS, wrong_state="verified", body=ACCEPT),
]


@pytest.fixture
def audit_in(make_audit):
    def make(state: str) -> PrivacyAudit:
        audit = make_audit()
        if state != "planned":
            audit.assessments.update(result="compliant")
        PrivacyAudit.objects.filter(pk=audit.pk).update(
            status=state, closed_at=timezone.now() if state == "closed" else None
        )
        return PrivacyAudit.objects.get(pk=audit.pk)

    return make


@pytest.fixture
def finding_in(make_audit, officer, engineer):
    audit = make_audit()

    def make(state: str) -> Finding:
        finding = finding_create(
            audit=audit,
            title="Backups are not encrypted",
            severity="high",
            owner=engineer.username,
            due_date=TODAY + dt.timedelta(days=30),
            by=officer,
        )
        extra = {}
        if state in ("resolved", "verified"):
            extra = {"resolved_by": officer, "resolved_at": timezone.now()}
        if state == "risk_accepted":
            extra = {"accepted_by": officer, "acceptance_reason": "Cheap", "acceptance_expires_on": TODAY}
        Finding.objects.filter(pk=finding.pk).update(status=state, **extra)
        return Finding.objects.get(pk=finding.pk)

    return make


def test_the_tables_cover_every_action_a_person_takes():
    table_covers_machine(AUDIT_TABLE, AUDITS)
    table_covers_machine(FINDING_TABLE, FINDINGS)


@pytest.mark.parametrize("row", AUDIT_TABLE, ids=lambda row: row.name)
def test_each_audit_action_by_each_role_and_from_a_wrong_state(row, people, client_for, audit_in):
    check_row(
        row,
        machine=AUDITS,
        people=people,
        client_for=client_for,
        make_in=audit_in,
        url="/api/privacy-audits/",
        organization="Acme Compute",
    )


@pytest.mark.parametrize("row", FINDING_TABLE, ids=lambda row: row.name)
def test_each_finding_action_by_each_role_and_from_a_wrong_state(row, people, client_for, finding_in):
    check_row(
        row,
        machine=FINDINGS,
        people=people,
        client_for=client_for,
        make_in=finding_in,
        url="/api/findings/",
        organization="Acme Compute",
    )


def test_the_person_a_finding_is_assigned_to_works_on_it_but_does_not_verify_or_accept_it(
    client_for, finding_in, engineer, officer
):
    client = client_for(engineer)
    finding = finding_in("open")
    assert client.post(f"/api/findings/{finding.pk}/start-remediation/").status_code == 200
    resolved = client.post(f"/api/findings/{finding.pk}/resolve/")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    refused = client.post(f"/api/findings/{finding.pk}/verify/")
    assert refused.status_code == 403 and "Your role in Acme Compute is engineer" in refused.json()["message"]
    refused = client.post(f"/api/findings/{finding_in('open').pk}/accept-risk/", ACCEPT, format="json")
    assert refused.status_code == 403 and "accept the risk of a finding" in refused.json()["message"]

    mine = finding_in("open")
    Finding.objects.filter(pk=mine.pk).update(owner=officer)
    assert client_for(officer).post(f"/api/findings/{mine.pk}/resolve/").status_code == 200
    refused = client_for(officer).post(f"/api/findings/{mine.pk}/verify/")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "The remediation must be verified by someone other than the person who resolved it."
    )


def test_accepting_a_findings_risk_records_the_approver_and_reopening_clears_it(client_for, finding_in, officer):
    finding = finding_in("remediating")
    client = client_for(officer)
    missing = client.post(f"/api/findings/{finding.pk}/accept-risk/", {"expires_on": ACCEPT["expires_on"]})
    assert missing.status_code == 400 and list(missing.json()["extra"]["fields"]) == ["reason"]
    body = client.post(f"/api/findings/{finding.pk}/accept-risk/", ACCEPT, format="json").json()
    assert body["status"] == "risk_accepted" and body["accepted_by"] == "cora"
    assert body["acceptance_reason"] == ACCEPT["reason"] and body["acceptance_expires_on"] == ACCEPT["expires_on"]

    body = client.post(f"/api/findings/{finding.pk}/reopen/", {"reason": "The vendor slipped"}).json()
    assert body["status"] == "open" and body["accepted_by"] is None and body["acceptance_reason"] == ""
    event = AuditEvent.objects.filter(object_id=str(finding.pk)).latest("seq")
    assert event.after["reason"] == "The vendor slipped"
    assert event.before["acceptance_reason"] == ACCEPT["reason"] and event.after["acceptance_reason"] == ""


def test_detail_lists_allowed_actions_with_the_reason_for_each_refusal(client_for, audit_in, finding_in, people):
    audit = audit_in("planned")
    PrivacyAudit.objects.filter(pk=audit.pk).update(status="fieldwork")  # no control assessed yet
    officer_view = client_for(people[Role.COMPLIANCE]).get(f"/api/privacy-audits/{audit.pk}/").json()
    assert officer_view["allowed_actions"] == [
        {
            "action": "start_reporting",
            "label": "Start reporting",
            "allowed": False,
            "reason": "Cannot start reporting on audit 'GDPR 2026': 15 control(s) are not assessed yet.",
        }
    ]
    assert "allowed_actions" not in client_for(people[Role.VIEWER]).get("/api/privacy-audits/").json()["results"][0]

    finding = finding_in(FindingStatus.OPEN)
    viewer_view = client_for(people[Role.VIEWER]).get(f"/api/findings/{finding.pk}/").json()
    assert [(a["action"], a["allowed"]) for a in viewer_view["allowed_actions"]] == [
        ("start_remediation", False),
        ("resolve", False),
        ("accept_risk", False),
    ]
    assert all(a["reason"].endswith("Your role in Acme Compute is viewer.") for a in viewer_view["allowed_actions"])
    owner_view = client_for(people[Role.OWNER]).get(f"/api/findings/{finding.pk}/").json()
    assert all(a["allowed"] and a["reason"] == "" for a in owner_view["allowed_actions"])


def test_an_expired_acceptance_reopens_through_the_machine_and_no_person_can_expire_one(finding_in, client_for, people):
    finding = finding_in("risk_accepted")  # accepted until today: expires tomorrow
    with pytest.raises(PermissionDenied, match="Only govtrack itself"):
        FINDINGS.run(finding, "expire_acceptance", by=people[Role.OWNER], today=TODAY + dt.timedelta(days=1))
    assert findings_expire_acceptances(today=TODAY) == 0
    assert findings_expire_acceptances(today=TODAY + dt.timedelta(days=1)) == 1
    finding.refresh_from_db()
    assert finding.status == "open" and finding.accepted_by is None
    assert finding.last_reminded_on == TODAY + dt.timedelta(days=1)
