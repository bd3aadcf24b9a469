"""The proof page of a released milestone: reachable without an account by its link only, showing that milestone
alone, the report as stored, the on-chain approval and the PDF's data hash; revoked → 410; audited."""

import hashlib

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, PermissionDenied
from apps.escrow.models import ChainEvent, ChainTx, ChainTxKind, EscrowMilestone
from apps.proofs.models import ProofLink
from apps.proofs.services import proof_link_create, proof_link_revoke
from apps.reports.services import grant_report_render
from tests.reports.test_grant_report import pdf_text


def test_the_page_needs_no_account_and_shows_the_report_the_chain_and_the_pdf_hash(
    released, people, client_for, tmp_path
):
    milestone, other = released
    response = client_for(people["finance"]).post("/api/proof-links/", {"milestone": str(milestone.pk)})
    assert response.status_code == 201, response.content
    url = response.json()["url"]
    assert url.startswith("http://") and "/proof/" in url
    path = url[url.index("/proof/") :]
    link = ProofLink.objects.get(pk=response.json()["id"])
    assert len(link.token) >= 43

    anonymous = Client()
    page = anonymous.get(path)
    assert page.status_code == 200
    text = page.content.decode()
    escrow = EscrowMilestone.objects.select_related("agreement").get(milestone=milestone)
    report = milestone.verification_reports.get(passed=True)
    attest = ChainTx.objects.get(escrow_milestone=escrow, kind=ChainTxKind.ATTEST)
    approved = ChainEvent.objects.get(name="MilestoneApproved", tx_hash=attest.tx_hash)
    assert escrow.onchain_evidence_hash == "0x" + report.sha256
    for expected in (
        milestone.title,
        report.sha256,
        attest.tx_hash,
        str(approved.block_number),
        escrow.agreement.contract_address,
        f"{escrow.agreement.onchain_id} · {escrow.index}",
        f"python3 verify.py verification-report-{report.sha256[:16]}.json --sha256 {report.sha256}",
        f"--escrow {escrow.agreement.contract_address} --agreement {escrow.agreement.onchain_id}",
        "No report PDF has printed this link yet",
    ):
        assert expected in text, expected
    assert other.title not in text  # one milestone, nothing else of the organization
    assert page["Referrer-Policy"] == "no-referrer"

    download = anonymous.get(path + "report.json")
    assert download.status_code == 200
    assert download.content == report.canonical_json.encode()
    assert hashlib.sha256(download.content).hexdigest() == report.sha256 == download["X-Report-SHA256"]

    # The grant report PDF prints the link, and the page then shows that PDF's data hash.
    rendered = grant_report_render(grant=milestone.grant, by=people["viewer"])
    printed = pdf_text(rendered.pdf, tmp_path).replace("\n", " ")
    assert url in printed.replace(" ", "") or url in printed
    assert rendered.data_sha256 in anonymous.get(path).content.decode()


def test_another_organization_reaches_nothing_and_a_revoked_link_is_gone(released, people, outsider, client_for):
    milestone, other = released
    link = proof_link_create(milestone=milestone, by=people["owner"])
    path = f"/proof/{link.token}/"
    api = client_for(outsider)
    assert api.post("/api/proof-links/", {"milestone": str(milestone.pk)}).status_code == 400
    assert api.get(f"/api/proof-links/{link.pk}/").status_code == 404
    assert api.post(f"/api/proof-links/{link.pk}/revoke/").status_code == 404
    assert api.get("/api/proof-links/").json()["results"] == []
    with pytest.raises(PermissionDenied):
        proof_link_revoke(link=link, by=outsider)
    with pytest.raises(PermissionDenied):  # a member whose role does not share proofs
        proof_link_create(milestone=milestone, by=people["engineer"])
    with pytest.raises(Conflict, match="Only a released milestone"):
        proof_link_create(milestone=other, by=people["owner"])
    assert Client().get(f"/proof/{'x' * 43}/").status_code == 404

    revoked = client_for(people["finance"]).post(f"/api/proof-links/{link.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    assert Client().get(path).status_code == 410
    assert Client().get(path + "report.json").status_code == 410

    events = AuditEvent.objects.filter(action__startswith="milestone.proof_link_").order_by("seq")
    assert [(e.action, e.actor.username) for e in events] == [
        ("milestone.proof_link_created", "owner-acme"),
        ("milestone.proof_link_revoked", "finance-acme"),
    ]
    assert link.token not in str([e.before for e in events] + [e.after for e in events])


def test_the_grant_page_shares_and_revokes_a_link(released, people, browser_for):
    milestone, other = released
    owner, viewer = browser_for(people["owner"]), browser_for(people["viewer"])
    page = viewer.get(f"/grants/{milestone.grant_id}/").content.decode()
    assert "Proof links" in page and "not shared" in page and "New proof link" not in page  # a viewer shares none
    assert viewer.post(f"/milestones/{milestone.pk}/proof-links/").status_code == 302
    assert not ProofLink.objects.exists()  # refused, with the reason shown on the page

    assert owner.post(f"/milestones/{milestone.pk}/proof-links/").status_code == 302
    link = ProofLink.objects.get()
    page = owner.get(f"/grants/{milestone.grant_id}/").content.decode()
    assert f"/proof/{link.token}/" in page and "Revoke" in page
    assert other.title not in page.split("Proof links")[1]  # only released milestones are offered

    assert owner.post(f"/proof-links/{link.pk}/revoke/").status_code == 302
    assert Client().get(f"/proof/{link.token}/").status_code == 410
