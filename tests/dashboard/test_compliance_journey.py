"""The compliance lead's whole audit in the browser: fieldwork, assessing with evidence, findings and their fixes."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance.models import AssessmentEvidence, ControlAssessment, Finding, PrivacyAudit
from apps.compliance.services.audits import privacy_audit_create
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned_audit(audit, org, people):
    officer = people[Role.COMPLIANCE]
    return privacy_audit_create(
        organization=org,
        framework_version=audit.framework_version,
        title="GDPR 2027",
        period_start=dt.date(2027, 1, 1),
        period_end=dt.date(2027, 12, 31),
        auditor=officer.username,
        by=officer,
    )


def test_fieldwork_starts_from_the_page_and_the_controls_fold_to_one_line_each(browser_for, people, planned_audit):
    officer = browser_for(people[Role.COMPLIANCE])
    page = officer.get(f"/compliance/audits/{planned_audit.pk}/").content.decode()
    assert 'data-action="start_fieldwork"' in page and "start fieldwork first" in page
    assert page.count('<details class="control"') == 15 and "assess-form" not in page  # nothing to assess yet
    started = officer.post(f"/compliance/audits/{planned_audit.pk}/action/", {"action": "start_fieldwork"}, follow=True)
    page = started.content.decode()
    assert PrivacyAudit.objects.get(pk=planned_audit.pk).status == "fieldwork"
    assert "Fieldwork has started" in page
    assert "{#" not in page and "{% comment" not in page  # template comments stay out of the page
    # Each control carries the framework's guidance and its own form, folded until opened.
    assert "Every processing activity has a documented lawful basis" in page
    assert page.count('<details class="control"') == 15 and page.count(" open>") == 0


def test_evidence_is_uploaded_to_one_control_and_downloaded_with_its_hash(browser_for, people, audit):
    assessment = ControlAssessment.objects.filter(audit=audit).order_by("control__position").first()
    officer = browser_for(people[Role.COMPLIANCE])
    upload = SimpleUploadedFile("dpa-register.csv", b"processor,contract\nacme,signed\n", content_type="text/csv")
    response = officer.post(f"/compliance/assessments/{assessment.pk}/evidence/", {f"ev-{assessment.pk}-file": upload})
    assert response.status_code == 302 and response["Location"].endswith(f"#assessment-{assessment.pk}")
    evidence = AssessmentEvidence.objects.get(assessment=assessment)
    page = officer.get(response["Location"]).content.decode()
    assert f"dpa-register.csv added to {assessment.control.ref}" in page and evidence.sha256 in page
    download = officer.get(f"/compliance/evidence/{evidence.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"processor")
    assert download["X-Content-SHA256"] == evidence.sha256

    bad = SimpleUploadedFile("payload.exe", b"MZ\x90", content_type="application/octet-stream")
    refused = officer.post(f"/compliance/assessments/{assessment.pk}/evidence/", {f"ev-{assessment.pk}-file": bad})
    assert refused.status_code == 400 and "Files of type &#x27;.exe&#x27; are refused" in refused.content.decode()
    assert AssessmentEvidence.objects.filter(assessment=assessment).count() == 1


def test_a_finding_from_a_control_through_remediation_to_verification(browser_for, people, audit):
    officer, engineer, owner = people[Role.COMPLIANCE], people[Role.ENGINEER], people[Role.OWNER]
    control = audit.framework_version.controls.order_by("position")[1]
    lead = browser_for(officer)
    form = lead.get(f"/compliance/audits/{audit.pk}/findings/new/?control={control.ref}").content.decode()
    assert control.text[:40] in form and f'value="{control.ref}" selected' in form
    assert '<label for="id_title">Finding</label>' in form
    due = timezone.localdate() - dt.timedelta(days=3)
    created = lead.post(
        f"/compliance/audits/{audit.pk}/findings/new/?control={control.ref}",
        {
            "title": "Two activities lack a lawful basis",
            "severity": "high",
            "owner": engineer.username,
            "due_date": due.isoformat(),
            "control": control.ref,
        },
    )
    finding = Finding.objects.get(audit=audit)
    assert created.status_code == 302 and created["Location"] == f"/compliance/findings/{finding.pk}/"
    assert finding.control == control and finding.owner == engineer

    listing = lead.get("/compliance/?overdue=on").content.decode()
    assert f'href="/compliance/findings/{finding.pk}/"' in listing
    assert 'class="badge sev-high"' in listing and 'class="badge overdue"' in listing

    worker = browser_for(engineer)  # the owner of the finding works on it whatever their role
    page = worker.get(f"/compliance/findings/{finding.pk}/").content.decode()
    assert 'data-action="start_remediation"' in page and 'data-action="accept_risk"' not in page
    assert worker.post(f"/compliance/findings/{finding.pk}/action/", {"action": "start_remediation"}).status_code == 302
    added = worker.post(
        f"/compliance/findings/{finding.pk}/actions/",
        {"description": "Document the basis of both activities", "owner": engineer.username},
    )
    assert added.status_code == 302
    refused = worker.post(f"/compliance/findings/{finding.pk}/action/", {"action": "resolve"})
    assert refused.status_code == 409 and "1 remediation action(s) are still open" in refused.content.decode()
    action = finding.actions.get()
    done = worker.post(f"/compliance/remediation/{action.pk}/done/", follow=True).content.decode()
    assert "No open actions left: the finding can be resolved." in done
    resolved = worker.post(f"/compliance/findings/{finding.pk}/action/", {"action": "resolve"}, follow=True)
    assert "someone other than you verifies the fix" in resolved.content.decode()

    # The resolver cannot verify; the owner can, after a confirmation.
    page = browser_for(owner).get(f"/compliance/findings/{finding.pk}/").content.decode()
    assert 'data-action="verify"' in page and "A verified finding is closed for good." in page
    verified = browser_for(owner).post(f"/compliance/findings/{finding.pk}/action/", {"action": "verify"})
    assert verified.status_code == 302
    finding.refresh_from_db()
    assert finding.status == "verified" and finding.verified_by == owner and finding.resolved_by == engineer
    actions = list(AuditEvent.objects.filter(object_id=str(finding.pk)).values_list("action", flat=True))
    assert actions.count("finding.status_changed") == 3


def test_accepting_a_risk_needs_a_reason_and_an_expiry(browser_for, people, audit):
    officer = people[Role.COMPLIANCE]
    lead = browser_for(officer)
    lead.post(
        f"/compliance/audits/{audit.pk}/findings/new/",
        {"title": "Retention not enforced", "severity": "medium", "owner": officer.username, "due_date": "2027-01-31"},
    )
    finding = Finding.objects.get(audit=audit)
    page = lead.get(f"/compliance/findings/{finding.pk}/").content.decode()
    assert 'name="expires_on"' in page
    missing = lead.post(f"/compliance/findings/{finding.pk}/action/", {"action": "accept_risk", "note": "Legacy"})
    assert missing.status_code == 400 and "Give the day the acceptance ends" in missing.content.decode()
    until = timezone.localdate() + dt.timedelta(days=90)
    accepted = lead.post(
        f"/compliance/findings/{finding.pk}/action/",
        {"action": "accept_risk", "note": "Legacy system retired in Q2", "expires_on": until.isoformat()},
        follow=True,
    )
    assert f"accepted until {until:%-d %b %Y}" in accepted.content.decode()
    assert Finding.objects.get(pk=finding.pk).status == "risk_accepted"


def test_a_viewer_reads_the_audit_and_its_findings_without_forms(browser_for, people, audit):
    viewer = browser_for(people[Role.VIEWER])
    page = viewer.get(f"/compliance/audits/{audit.pk}/").content.decode()
    assert "assess-form" not in page and 'type="file"' not in page and "Record a finding" not in page
    assert "you can read the results" in page
