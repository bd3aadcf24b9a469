"""The audit and risk pages draw their status buttons from the machines and post them to the same services."""

import pytest

from apps.compliance.models import PrivacyAudit
from apps.risks.models import Risk
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


def test_an_audit_button_is_disabled_with_the_reason_until_every_control_is_assessed(browser_for, people, audit):
    officer = browser_for(people[Role.COMPLIANCE])
    page = officer.get(f"/compliance/audits/{audit.pk}/").content.decode()
    assert 'disabled title="Cannot start reporting on audit &#x27;GDPR 2026&#x27;: 15 control(s)' in page
    refused = officer.post(f"/compliance/audits/{audit.pk}/action/", {"action": "start_reporting"})
    assert refused.status_code == 409 and "15 control(s) are not assessed yet" in refused.content.decode()

    audit.assessments.update(result="compliant")
    moved = officer.post(f"/compliance/audits/{audit.pk}/action/", {"action": "start_reporting"})
    assert moved.status_code == 302
    assert PrivacyAudit.objects.get(pk=audit.pk).status == "reporting"
    page = officer.get(f"/compliance/audits/{audit.pk}/").content.decode()
    assert "The audit is now reporting: every control is assessed." in page
    assert 'data-action="close"' in page and "Its score is frozen for the trend" in page  # asks before closing


def test_a_viewer_sees_no_audit_buttons_and_is_refused_with_the_role_when_posting(browser_for, people, audit):
    viewer = browser_for(people[Role.VIEWER])
    assert "data-action=" not in viewer.get(f"/compliance/audits/{audit.pk}/").content.decode()
    refused = viewer.post(f"/compliance/audits/{audit.pk}/action/", {"action": "start_reporting"})
    assert refused.status_code == 403 and "Your role in Acme Compute is viewer" in refused.content.decode()
    assert viewer.post(f"/compliance/audits/{audit.pk}/action/", {"action": "delete"}).status_code == 404


def test_risk_buttons_follow_the_role_and_the_state(browser_for, people, make_risk):
    risk = make_risk()
    engineer = browser_for(people[Role.ENGINEER])  # owns the risk: may start treating it, not decide it
    page = engineer.get(f"/risks/{risk.pk}/").content.decode()
    assert 'data-action="start_treatment"' in page and 'data-action="close"' not in page
    assert engineer.post(f"/risks/{risk.pk}/action/", {"action": "start_treatment"}).status_code == 302
    refused = engineer.post(f"/risks/{risk.pk}/action/", {"action": "close"})
    assert refused.status_code == 403 and "accept, close or reopen a risk" in refused.content.decode()

    officer = browser_for(people[Role.COMPLIANCE])
    assert officer.post(f"/risks/{risk.pk}/action/", {"action": "close", "note": "Replaced"}).status_code == 302
    page = officer.get(f"/risks/{risk.pk}/").content.decode()
    assert Risk.objects.get(pk=risk.pk).status == "closed"
    assert f"Risk {risk.ref} is now closed." in page and 'data-action="reopen"' in page
    refused = officer.post(f"/risks/{risk.pk}/action/", {"action": "close"})
    assert refused.status_code == 409 and "it is closed" in refused.content.decode()
    assert officer.post(f"/risks/{risk.pk}/action/", {"action": "reopen"}).status_code == 302
    refused = officer.post(f"/risks/{risk.pk}/action/", {"action": "accept", "note": "Cost of fix too high"})
    assert refused.status_code == 400 and "Give the day the acceptance ends" in refused.content.decode()
