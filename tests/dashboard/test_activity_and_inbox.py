"""What is waiting for me, each object's activity with comments, and the organization's audit log."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance.services.findings import finding_create
from apps.dashboard.models import Comment
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def late_finding(audit, people):
    return finding_create(
        audit=audit,
        by=people[Role.COMPLIANCE],
        title="No DPA with the GPU cloud",
        severity="critical",
        owner=people[Role.ENGINEER].username,
        due_date=timezone.localdate() - dt.timedelta(days=5),
    )


def test_waiting_for_me_lists_assessments_and_overdue_findings_for_my_role(browser_for, people, audit, late_finding):
    lead = browser_for(people[Role.COMPLIANCE]).get("/waiting/").content.decode()
    assert "15 control(s) to assess in GDPR 2026" in lead
    assert f'href="/compliance/findings/{late_finding.pk}/"' in lead and 'class="badge overdue"' in lead
    engineer = browser_for(people[Role.ENGINEER]).get("/").content.decode()  # the overview shows it too
    assert "Waiting for me" in engineer and f"Finding {late_finding.ref} No DPA with the GPU cloud" in engineer
    assert "control(s) to assess" not in engineer  # assessing is not the engineer's job
    viewer = browser_for(people[Role.VIEWER]).get("/waiting/").content.decode()
    assert "Nothing is waiting for you." in viewer


def test_a_comment_is_audited_and_shown_with_the_changes_in_the_feed(browser_for, people, late_finding):
    lead = browser_for(people[Role.COMPLIANCE])
    response = lead.post(f"/comments/finding/{late_finding.pk}/", {"body": "Vendor sent the draft DPA <b>today</b>"})
    assert response.status_code == 302 and response["Location"].endswith("#activity-title")
    comment = Comment.objects.get()
    assert AuditEvent.objects.filter(action="comment.added", object_id=str(comment.pk)).exists()
    lead.post(f"/compliance/findings/{late_finding.pk}/action/", {"action": "start_remediation"})
    page = lead.get(f"/compliance/findings/{late_finding.pk}/").content.decode()
    assert "Vendor sent the draft DPA &lt;b&gt;today&lt;/b&gt;" in page  # escaped
    assert "Finding status changed" in page and "<del>open</del> → <ins>remediating</ins>" in page
    empty = lead.post(f"/comments/finding/{late_finding.pk}/", {"body": "  "}, follow=True)
    assert "The comment was not added" in empty.content.decode() and Comment.objects.count() == 1
    assert lead.post(f"/comments/milestone/{late_finding.pk}/", {"body": "x"}).status_code == 404


def test_the_audit_log_filters_and_verifies_the_chain_for_owners_and_compliance(browser_for, people, late_finding):
    lead = browser_for(people[Role.COMPLIANCE])
    page = lead.get("/audit-log/?action=finding.created").content.decode()
    assert "1 event." in page and "No DPA with the GPU cloud" in page
    assert '<option value="privacy_audit.status_changed">' in page  # an action to choose from
    verified = lead.get("/audit-log/?action=finding.created&verify=1").content.decode()
    assert "Verified:" in verified and "every hash links to the one before" in verified
    refused = browser_for(people[Role.FINANCE]).get("/audit-log/")
    assert refused.status_code == 403 and "read the organization&#x27;s audit log" in refused.content.decode()
    assert "Audit log" not in browser_for(people[Role.FINANCE]).get("/").content.decode()
