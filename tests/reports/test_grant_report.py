"""The grant report PDF: its data hash, its text, paper sizes, fonts, the API route, and background exports."""

import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal

import pytest

from apps.core.canonical import canonical_json, sha256_hex
from apps.funding.models import Funder, FunderKind
from apps.funding.services.grants import grant_create
from apps.funding.services.milestones import criterion_add, milestone_create
from apps.reports.models import ExportStatus, GrantReportExport
from apps.reports.selectors import grant_for_report, grant_report_data
from apps.tenancy.models import Membership, Role
from tests.conftest import service_missing
from tests.funding.factories import GrantFactory


@pytest.fixture
def grant(org, people):
    finance = people[Role.FINANCE]
    funder = Funder.objects.create(organization=org, name="Open Compute Commons", kind=FunderKind.FOUNDATION)
    grant = grant_create(
        organization=org,
        by=finance,
        funder=funder,
        title="Community GPU cloud",
        currency="USD",
        amount_requested=Decimal("300000"),
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
    )
    for n, title in enumerate(["Cluster online", "First 100 researchers"]):
        milestone = milestone_create(
            parent=grant, by=finance, title=title, amount=Decimal("50000"), due_date=dt.date(2026, 3 + n, 1)
        )
        criterion_add(milestone=milestone, by=finance, kind="manual", description=f"{title}: report accepted")
    return grant


def pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        service_missing("pdftotext (Debian package poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_report_prints_names_and_the_hash_of_its_data(browser_for, people, grant, tmp_path):
    response = browser_for(people[Role.VIEWER]).get(f"/grants/{grant.pk}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    data = grant_report_data(user=people[Role.VIEWER], grant=grant_for_report(user=people[Role.VIEWER], pk=grant.pk))
    digest = sha256_hex(canonical_json(data))
    assert response["X-Report-SHA256"] == digest
    text = pdf_text(response.content, tmp_path)
    for expected in ("Community GPU cloud", "Cluster online", "First 100 researchers", "Open Compute Commons", digest):
        assert expected in text
    assert re.search(r"Page 1 of \d+", text)
    assert "Not escrowed" in text


def test_same_data_gives_the_same_hash_and_a_change_gives_another(people, grant):
    viewer = people[Role.VIEWER]
    first = sha256_hex(canonical_json(grant_report_data(user=viewer, grant=grant_for_report(user=viewer, pk=grant.pk))))
    again = sha256_hex(canonical_json(grant_report_data(user=viewer, grant=grant_for_report(user=viewer, pk=grant.pk))))
    assert first == again
    milestone_create(
        parent=grant, by=people[Role.FINANCE], title="Late add", amount=Decimal("1"), due_date=dt.date(2026, 9, 1)
    )
    changed = grant_report_data(user=viewer, grant=grant_for_report(user=viewer, pk=grant.pk))
    assert sha256_hex(canonical_json(changed)) != first


def test_fonts_are_embedded_and_letter_is_a_letter_page(browser_for, people, grant, tmp_path):
    client = browser_for(people[Role.FINANCE])
    a4 = client.get(f"/grants/{grant.pk}/report.pdf", {"page_size": "A4"}).content
    letter = client.get(f"/grants/{grant.pk}/report.pdf", {"page_size": "Letter"}).content
    if shutil.which("pdffonts") is None:
        service_missing("pdffonts (Debian package poppler-utils)")
    (tmp_path / "a4.pdf").write_bytes(a4)
    fonts = subprocess.run(["pdffonts", str(tmp_path / "a4.pdf")], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert any("Report-Sans" in row[0] for row in rows)
    assert rows and all(row[-5] == "yes" for row in rows)  # the "emb" column: every font is embedded
    (tmp_path / "letter.pdf").write_bytes(letter)
    sizes = {
        name: subprocess.run(["pdfinfo", str(tmp_path / name)], capture_output=True, text=True, check=True).stdout
        for name in ("a4.pdf", "letter.pdf")
    }
    assert "(A4)" in sizes["a4.pdf"]
    assert "612 x 792 pts (letter)" in sizes["letter.pdf"]


def test_api_report_is_org_scoped(token_client_for, people, grant, outsider):
    ok = token_client_for(people[Role.VIEWER]).get(f"/api/grants/{grant.pk}/report.pdf", HTTP_ACCEPT="application/pdf")
    assert ok.status_code == 200
    assert ok["Content-Type"] == "application/pdf" and ok.content.startswith(b"%PDF-")
    foreign = token_client_for(outsider).get(f"/api/grants/{grant.pk}/report.pdf", HTTP_ACCEPT="application/pdf")
    assert foreign.status_code == 404
    assert foreign.json()["message"] == "Grant not found."


def test_api_report_needs_authentication(api_client, grant):
    assert api_client.get(f"/api/grants/{grant.pk}/report.pdf").status_code == 401


def test_dashboard_report_of_another_organization_is_not_found(browser_for, outsider, people):
    theirs = GrantFactory(organization=Membership.objects.get(user=outsider).organization)
    assert browser_for(people[Role.OWNER]).get(f"/grants/{theirs.pk}/report.pdf").status_code == 404


def test_large_report_is_built_in_the_background_with_progress(
    browser_for, people, grant, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.REPORTS_SYNC_MAX_MILESTONES = 1
    settings.MEDIA_ROOT = tmp_path
    client = browser_for(people[Role.FINANCE])
    page = client.get(f"/grants/{grant.pk}/").content.decode()
    assert "Build the report" in page and "Download PDF" not in page
    assert client.get(f"/grants/{grant.pk}/report.pdf").status_code == 302  # not built inline

    with django_capture_on_commit_callbacks(execute=True):  # the task is sent once the export row is committed
        response = client.post(f"/grants/{grant.pk}/report/", {"page_size": "Letter"})
    export = GrantReportExport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/exports/{export.pk}/"
    # Tasks run in-process here, so the export is finished when the redirect comes back.
    assert export.status == ExportStatus.DONE and export.progress == 100
    status = client.get(f"/reports/exports/{export.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in status  # finished: htmx stops polling
    assert export.data_sha256 in status
    download = client.get(f"/reports/exports/{export.pk}/download/")
    pdf = b"".join(download.streaming_content)
    assert pdf.startswith(b"%PDF-") and download["X-Report-SHA256"] == export.data_sha256
    assert export.data_sha256 in pdf_text(pdf, tmp_path)


def test_export_in_progress_is_polled_by_htmx(browser_for, people, grant):
    export = GrantReportExport.objects.create(
        organization=grant.organization, grant=grant, requested_by=people[Role.FINANCE], progress=40
    )
    body = browser_for(people[Role.FINANCE]).get(f"/reports/exports/{export.pk}/", HTTP_HX_REQUEST="true")
    text = body.content.decode()
    assert 'hx-trigger="every 1s"' in text and 'value="40"' in text


def test_api_large_report_answers_202_with_the_export_to_poll(
    token_client_for, people, grant, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.REPORTS_SYNC_MAX_MILESTONES = 1
    settings.MEDIA_ROOT = tmp_path
    client = token_client_for(people[Role.FINANCE])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/api/grants/{grant.pk}/report.pdf")
    assert response.status_code == 202
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/report-exports/{body['id']}/")
    status = client.get(f"/api/report-exports/{body['id']}/").json()
    assert status["status"] == "done" and status["progress"] == 100
    assert status["download_url"].endswith(f"/api/v1/report-exports/{body['id']}/file")
    pdf = client.get(f"/api/report-exports/{body['id']}/file")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF-")


class _Listener:
    """A loopback HTTP server that records every request made to it (and answers a stylesheet that hides h1)."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                body = b"h1 { display: none }"
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_css_string_escapes_every_character_that_could_end_the_string():
    from apps.dashboard.templatetags.dashboard_tags import css_string

    assert css_string("GPU cloud 2026") == "GPU cloud 2026"
    assert css_string('a\r}"\\<\n\x0cé') == "a\\d \\7d \\22 \\5c \\3c \\a \\c \\e9 "


def test_a_title_cannot_break_out_of_the_report_css_nor_fetch_anything(browser_for, people, grant, tmp_path):
    listener = _Listener()
    try:
        injected = (
            f"Pilot\r}}}} @import url(http://127.0.0.1:{listener.port}/x.css); "
            f"body {{ background: url(http://127.0.0.1:{listener.port}/bg.png) }} @page {{ @top-center {{ content: '"
        )
        type(grant).objects.filter(pk=grant.pk).update(title=injected)
        response = browser_for(people[Role.VIEWER]).get(f"/grants/{grant.pk}/report.pdf")
        assert response.status_code == 200
        text = pdf_text(response.content, tmp_path)
    finally:
        listener.close()
    assert listener.seen == []
    cover, second = text.split("\f")[:2]
    assert "Pilot" in cover  # the title's h1 is not hidden
    # The running header prints the whole title as text, and the page footer is where it was.
    assert f"Pilot }}}} @import url(http://127.0.0.1:{listener.port}/x.css); body {{ background" in second
    assert re.search(r"Page 2 of \d+", second)


def test_the_report_fetcher_reads_only_its_fonts_and_static_files(settings):
    from apps.reports.rendering import font_urls, report_url_fetcher

    fetcher = report_url_fetcher()
    fetched = fetcher.fetch(font_urls()["regular"])
    try:
        assert fetched.read(4) in (b"\x00\x01\x00\x00", b"true", b"OTTO")  # a TrueType/OpenType font
    finally:
        fetched.close()
    for url in (
        "http://127.0.0.1:9/x.css",
        "https://example.com/x.png",
        "file:///etc/passwd",
        f"file://{settings.BASE_DIR}/govtrack/settings.py",
        "ftp://127.0.0.1/x",
    ):
        with pytest.raises(ValueError, match="does not fetch"):
            fetcher.fetch(url)


def test_report_names_approvers_prints_labels_and_only_the_grants_own_risks(browser_for, people, grant, tmp_path):
    from apps.funding.services.milestones import criterion_approve, milestone_act
    from apps.risks.services.matrices import risk_matrix_create
    from apps.risks.services.registers import risk_register_create
    from apps.risks.services.risks import risk_create

    officer, owner = people[Role.COMPLIANCE], people[Role.OWNER]
    milestone = grant.milestones.order_by("due_date").first()
    milestone = milestone_act(milestone=milestone, by=people[Role.FINANCE], action="start")
    criterion_approve(criterion=milestone.criteria.get(), by=owner)
    matrix = risk_matrix_create(organization=grant.organization, name="5x5", preset="5x5", by=officer)
    own = risk_register_create(organization=grant.organization, name="GPU cloud", matrix=matrix, by=officer)
    own.program = grant.title
    own.save(update_fields=["program"])
    strategy = risk_register_create(organization=grant.organization, name="Strategy", matrix=matrix, by=officer)
    for register, title in ((own, "Cluster power budget"), (strategy, "Market entry delayed")):
        risk_create(
            register=register,
            title=title,
            category=register.categories[0] if register.categories else "operational",
            owner=officer.username,
            inherent_likelihood=3,
            inherent_impact=3,
            by=officer,
        )
    response = browser_for(people[Role.VIEWER]).get(f"/grants/{grant.pk}/report.pdf")
    text = " ".join(pdf_text(response.content, tmp_path).split())
    assert f"Approved by: {owner.username} (Owner, manual criterion" in text
    assert "In progress" in text and "in_progress" not in text
    assert "1 open risk in the registers that cover this grant" in text and "Cluster power budget" in text
    assert "Market entry delayed" not in text
