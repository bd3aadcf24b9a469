"""Control assessment evidence: the same rules as milestone evidence (allow-list checked against the content, our
own name in the organization's folder, SHA-256 and size kept) and an authenticated download scoped to the org."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.compliance.models import AssessmentEvidence
from apps.compliance.services.audits import privacy_audit_start_fieldwork

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def assessment(make_audit, officer):
    audit = make_audit()
    privacy_audit_start_fieldwork(audit=audit, by=officer)
    return audit.assessments.select_related("audit").first()


def upload(client, assessment, name, content, content_type="application/octet-stream"):
    return client.post(
        f"/api/control-assessments/{assessment.pk}/evidence/",
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart",
    )


def test_evidence_is_stored_under_the_org_with_our_name_and_downloaded_by_members_only(
    client_for, assessment, officer, viewer, outsider, org, media
):
    response = upload(client_for(officer), assessment, "Processing records <2026>.pdf", PDF)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Processing records <2026>.pdf"
    assert body["content_type"] == "application/pdf"
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["size"] == len(PDF)
    assert body["download_url"] == f"http://testserver/api/v1/assessment-evidence/{body['id']}/download/"
    assert "/media/" not in str(body)

    evidence = AssessmentEvidence.objects.get(pk=body["id"])
    stored = media / evidence.file.name
    assert stored.read_bytes() == PDF
    assert evidence.file.name == f"evidence/{org.pk}/assessments/{assessment.pk}/{evidence.pk.hex}"
    assert [p.name for p in media.rglob("*") if p.is_file()] == [evidence.pk.hex]  # the uploader's name is nowhere
    assert AuditEvent.objects.filter(action="control_assessment.evidence_added", object_id=str(evidence.pk)).exists()

    # The assessment itself lists the same download link.
    listed = client_for(viewer).get(f"/api/control-assessments/{assessment.pk}/").json()["evidence"]
    assert [item["download_url"] for item in listed] == [body["download_url"]]

    download = client_for(viewer).get(body["download_url"])  # any member reads evidence, as for milestones
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "Processing records" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["X-Content-SHA256"] == body["sha256"]

    assert client_for(outsider).get(body["download_url"]).status_code == 404
    assert client_for(outsider).get("/api/assessment-evidence/not-a-uuid/download/").status_code == 404
    anonymous = client_for(None).get(body["download_url"])
    assert anonymous.status_code in (401, 403)


@pytest.mark.parametrize(
    ("name", "content", "content_type", "message"),
    [
        ("fake.pdf", b"<html><script>alert(1)</script></html>", "application/pdf", "The file's content is not PDF."),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00", "application/pdf", "Files of type '.exe' are refused."),
        ("page.html", b"<html></html>", "text/plain", "Files of type '.html' are refused."),
        ("records.csv", b"\xff\xfe\x00bad", "text/csv", "Text evidence must be UTF-8."),
        ("empty.txt", b"", "text/plain", "The file is empty."),
    ],
)
def test_refused_files_name_the_file_field_and_leave_nothing_behind(
    client_for, assessment, officer, media, name, content, content_type, message
):
    response = upload(client_for(officer), assessment, name, content, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["file"][0].startswith(message)
    assert not AssessmentEvidence.objects.exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_too_large_and_missing_files_are_refused(client_for, assessment, officer, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    content = PDF + b"0" * 2000
    response = upload(client_for(officer), assessment, "big.pdf", content)
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["file"] == [f"The file is {len(content)} bytes; the limit is 1024 bytes."]
    missing = client_for(officer).post(f"/api/control-assessments/{assessment.pk}/evidence/", {}, format="multipart")
    assert missing.status_code == 400 and list(missing.json()["extra"]["fields"]) == ["file"]
    assert not AssessmentEvidence.objects.exists()


def test_viewer_cannot_upload_and_another_org_cannot_see_the_assessment(client_for, assessment, viewer, outsider):
    assert upload(client_for(viewer), assessment, "report.pdf", PDF).status_code == 403
    assert upload(client_for(outsider), assessment, "report.pdf", PDF).status_code == 404
    assert not AssessmentEvidence.objects.exists()
