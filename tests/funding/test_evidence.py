import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from apps.funding.models import Evidence
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(client, milestone, name, content, content_type="application/octet-stream"):
    return client.post(
        f"/api/milestones/{milestone.pk}/evidence/",
        {"file": SimpleUploadedFile(name, content, content_type=content_type), "description": "utilization report"},
        format="multipart",
    )


def test_evidence_is_stored_with_its_sha256_and_downloadable_by_the_org_only(org, people, outsider, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")
    response = upload(client_for(people["engineer"]), milestone, "report.pdf", PDF)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["size"] == len(PDF)
    assert body["content_type"] == "application/pdf"

    download = client_for(people["viewer"]).get(body["download_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert download["X-Content-SHA256"] == body["sha256"]
    assert download["Content-Type"] == "application/pdf" and download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert client_for(outsider).get(body["download_url"]).status_code == 404


def test_evidence_file_is_stored_under_its_organization_with_a_name_of_ours(org, people, client_for, tmp_path):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")
    body = upload(client_for(people["engineer"]), milestone, "../../report.pdf", PDF, "text/html").json()
    evidence = Evidence.objects.get(pk=body["id"])
    assert evidence.file.name == f"evidence/{org.pk}/milestones/{milestone.pk}/{evidence.pk.hex}"
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [evidence.file.name]
    assert body["content_type"] == "application/pdf"  # from the checked content, not the client's header


@override_settings(EVIDENCE_MAX_BYTES=1024)
def test_too_large_file_is_refused(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org))
    content = PDF + b"0" * 2000
    response = upload(client_for(people["engineer"]), milestone, "big.pdf", content)
    assert response.status_code == 400
    message = response.json()["extra"]["fields"]["file"][0]
    assert message == f"The file is {len(content)} bytes; the limit is 1024 bytes."
    assert not Evidence.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("run.exe", b"MZ\x90\x00", "Files of type '.exe' are refused."),
        ("fake.pdf", b"<html>not a pdf</html>", "The file's content is not PDF."),
        ("data.csv", b"\xff\xfe\x00bad", "Text evidence must be UTF-8."),
    ],
)
def test_refused_types_name_the_file_field(org, people, client_for, tmp_path, name, content, message):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org))
    response = upload(client_for(people["engineer"]), milestone, name, content)
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["file"][0].startswith(message)
    assert not Evidence.objects.exists()
    assert list(tmp_path.rglob("*.*")) == []


def test_html_named_fake_pdf_and_sent_as_application_pdf_is_refused(org, people, client_for, tmp_path):
    # The client's Content-Type is the attacker's word; the content decides.
    milestone = MilestoneFactory(grant=GrantFactory(organization=org))
    html = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    response = upload(client_for(people["engineer"]), milestone, "fake.pdf", html, "application/pdf")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["file"][0].startswith("The file's content is not PDF.")
    assert not Evidence.objects.exists()
    assert list(tmp_path.rglob("*.*")) == []
    stored = upload(client_for(people["engineer"]), milestone, "real.pdf", PDF, "application/pdf")
    assert stored.status_code == 201, stored.json()
