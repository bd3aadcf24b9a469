import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance.models import Finding, FindingStatus
from apps.compliance.services.findings import (
    finding_accept_risk,
    finding_create,
    finding_resolve,
    finding_start_remediation,
    finding_verify,
    findings_expire_acceptances,
    findings_remind_overdue,
    remediation_action_complete,
    remediation_action_create,
)
from apps.compliance.tasks import compliance_findings_daily
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def audit(make_audit):
    return make_audit()


@pytest.fixture
def make_finding(audit, officer, engineer):
    def make(**overrides):
        values = {
            "audit": audit,
            "title": "Backups are not encrypted",
            "severity": "high",
            "owner": engineer.username,
            "due_date": TODAY + dt.timedelta(days=30),
            "control": "GDPR-32",
            "by": officer,
        } | overrides
        return finding_create(**values)

    return make


def test_finding_goes_from_open_to_verified_by_someone_else(make_finding, engineer, officer, owner):
    finding = make_finding()
    assert finding.ref == "F-0001" and finding.status == FindingStatus.OPEN
    action = remediation_action_create(finding=finding, description="Enable KMS encryption", owner="eddie", by=engineer)
    finding = finding_start_remediation(finding=finding, by=engineer)
    with pytest.raises(Conflict, match="1 remediation action"):
        finding_resolve(finding=finding, by=engineer)
    remediation_action_complete(action=action, by=engineer)
    finding = finding_resolve(finding=finding, by=engineer)
    assert finding.resolved_by == engineer
    with pytest.raises(PermissionDenied, match="compliance, owner"):
        finding_verify(finding=finding, by=engineer)
    finding = finding_verify(finding=finding, by=officer)
    assert finding.status == FindingStatus.VERIFIED and finding.verified_by == officer
    moves = AuditEvent.objects.filter(action="finding.status_changed", object_id=str(finding.pk)).order_by("seq")
    assert [(e.before["status"], e.after["status"]) for e in moves] == [
        ("open", "remediating"),
        ("remediating", "resolved"),
        ("resolved", "verified"),
    ]

    officer_fix = make_finding(title="No DPO published", owner=officer.username)
    finding_resolve(finding=officer_fix, by=officer)
    with pytest.raises(PermissionDenied, match="someone other than the person who resolved it"):
        finding_verify(finding=officer_fix, by=officer)
    assert finding_verify(finding=officer_fix, by=owner).status == FindingStatus.VERIFIED


def test_someone_elses_finding_is_not_an_engineers_to_work_on(make_finding, officer):
    finding = make_finding(owner=officer.username)
    from tests.factories import member

    other_engineer = member(finding.organization, "engineer")
    with pytest.raises(PermissionDenied) as refused:
        finding_start_remediation(finding=finding, by=other_engineer)
    assert "work on a finding assigned to someone else" in refused.value.message


def test_risk_acceptance_needs_reason_and_expiry_and_expires_back_to_open(make_finding, officer, engineer):
    finding = make_finding()
    with pytest.raises(PermissionDenied):
        finding_accept_risk(finding=finding, by=engineer, reason="cheap", expires_on=TODAY + dt.timedelta(days=9))
    with pytest.raises(ValidationFailed) as bad:
        finding_accept_risk(finding=finding, by=officer, reason="legacy system", expires_on=TODAY)
    assert bad.value.extra == {"fields": {"expires_on": ["An acceptance expires in the future."]}}
    with pytest.raises(ValidationFailed, match="at most a year"):
        finding_accept_risk(finding=finding, by=officer, reason="x", expires_on=TODAY + dt.timedelta(days=400))

    accepted = finding_accept_risk(
        finding=finding, by=officer, reason="Legacy system retires in Q3", expires_on=TODAY + dt.timedelta(days=10)
    )
    assert accepted.status == FindingStatus.RISK_ACCEPTED and accepted.accepted_by == officer
    with pytest.raises(Conflict, match="risk accepted"):
        finding_resolve(finding=accepted, by=engineer)

    assert findings_expire_acceptances(today=TODAY + dt.timedelta(days=10)) == 0  # the expiry day itself still holds
    assert findings_expire_acceptances(today=TODAY + dt.timedelta(days=11)) == 1
    reopened = Finding.objects.get(pk=finding.pk)
    assert reopened.status == FindingStatus.OPEN and reopened.acceptance_expires_on is None
    assert [m.to for m in mail.outbox] == [[engineer.email]]
    assert "expired" in mail.outbox[0].subject
    assert findings_expire_acceptances(today=TODAY + dt.timedelta(days=12)) == 0
    event = AuditEvent.objects.get(action="finding.acceptance_expired")
    assert event.before["status"] == "risk_accepted" and event.after["status"] == "open"


def test_overdue_reminders_go_once_a_day_to_the_owner(make_finding, engineer, officer):
    overdue = make_finding(due_date=TODAY - dt.timedelta(days=3))
    make_finding(title="Not due yet")
    done = make_finding(title="Fixed", due_date=TODAY - dt.timedelta(days=3))
    finding_resolve(finding=done, by=engineer)

    result = compliance_findings_daily.delay().get()
    assert result == {"acceptances_expired": 0, "overdue_reminders": 1}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [engineer.email]
    assert f"{overdue.ref} is 3 day(s) overdue" in mail.outbox[0].subject

    assert compliance_findings_daily.delay().get()["overdue_reminders"] == 0  # same day: nothing twice
    assert len(mail.outbox) == 1
    assert findings_remind_overdue(today=TODAY + dt.timedelta(days=1)) == 1
    assert len(mail.outbox) == 2
    assert Finding.objects.get(pk=overdue.pk).last_reminded_on == TODAY + dt.timedelta(days=1)


def test_api_transitions_return_409_with_reason_and_list_filters(client_for, make_finding, audit, officer, engineer):
    client = client_for(officer)
    response = client.post(
        "/api/findings/",
        {
            "audit": str(audit.pk),
            "title": "ROPA misses telemetry",
            "severity": "medium",
            "owner": "eddie",
            "due_date": str(TODAY - dt.timedelta(days=1)),
            "control": "GDPR-30",
        },
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["overdue"] is True and created["control"] == "GDPR-30" and created["owner"] == "eddie"

    response = client.post(f"/api/findings/{created['id']}/verify/")
    assert response.status_code == 409
    assert response.json()["message"] == f"Cannot verify finding {created['ref']}: it is open, and must be resolved."

    bad = client.post(
        "/api/findings/",
        {"audit": str(audit.pk), "title": "x", "severity": "high", "owner": "nobody", "due_date": "2026-01-01"},
    )
    assert bad.status_code == 400 and bad.json()["extra"]["fields"] == {
        "owner": ["nobody is not a member of Acme Compute."]
    }
    bad = client.post(
        "/api/findings/",
        {
            "audit": str(audit.pk),
            "title": "x",
            "severity": "high",
            "owner": "eddie",
            "due_date": "2026-01-01",
            "control": "AIA-5",
        },
    )
    assert bad.status_code == 400 and list(bad.json()["extra"]["fields"]) == ["control"]

    make_finding(title="Later")
    overdue = client.get("/api/findings/?overdue=true").json()["results"]
    assert [f["title"] for f in overdue] == ["ROPA misses telemetry"]
    response = client.post(
        f"/api/findings/{created['id']}/accept-risk/", {"reason": "Low volume", "expires_on": str(TODAY)}
    )
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["expires_on"]

    response = client_for(engineer).post(f"/api/findings/{created['id']}/resolve/")
    assert response.status_code == 200 and response.json()["status"] == "resolved"


def test_other_organizations_findings_are_404(client_for, make_finding, outsider):
    finding = make_finding()
    client = client_for(outsider)
    assert client.get(f"/api/findings/{finding.pk}/").status_code == 404
    assert client.post(f"/api/findings/{finding.pk}/resolve/").status_code == 404
    assert client.patch(f"/api/findings/{finding.pk}/", {"title": "mine now"}).status_code == 404
    assert (
        client.post(
            "/api/remediation-actions/", {"finding": str(finding.pk), "description": "x", "owner": "mallory"}
        ).status_code
        == 404
    )
    assert Finding.objects.get(pk=finding.pk).title == "Backups are not encrypted"


def test_finding_list_takes_constant_queries(
    client_for, make_finding, officer, engineer, django_assert_max_num_queries
):
    for n in range(8):
        finding = make_finding(title=f"Finding {n}")
        remediation_action_create(finding=finding, description="fix", owner="eddie", by=officer)
    client = client_for(officer)
    with django_assert_max_num_queries(4):
        assert len(client.get("/api/findings/?page_size=2").json()["results"]) == 2
    with django_assert_max_num_queries(4):
        results = client.get("/api/findings/?page_size=8").json()["results"]
    assert len(results) == 8 and all(f["open_actions"] == 1 for f in results)
    with django_assert_max_num_queries(4):
        assert len(client.get("/api/remediation-actions/?page_size=8").json()["results"]) == 8
