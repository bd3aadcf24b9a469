import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.compliance.models import AssessmentResult, AuditStatus, ControlAssessment
from apps.compliance.scoring import score_assessments
from apps.compliance.selectors import audit_score
from apps.compliance.services.audits import (
    control_assessment_record,
    privacy_audit_close,
    privacy_audit_start_fieldwork,
    privacy_audit_start_reporting,
)
from apps.core.errors import Conflict, PermissionDenied

pytestmark = pytest.mark.django_db


def test_scoring_rule_weights_results_and_leaves_out_not_applicable_and_unassessed():
    rows = [
        ("Security", "compliant", Decimal(3)),
        ("Security", "partially", Decimal(1)),
        ("Rights", "non_compliant", Decimal(2)),
        ("Rights", "not_applicable", Decimal(5)),
        ("Rights", "not_assessed", Decimal(1)),
    ]
    result = score_assessments(rows)
    # (3*1 + 1*0.5 + 2*0) / (3 + 1 + 2) = 58.33%
    assert result["score"] == Decimal("58.33")
    assert result["controls"] == 5 and result["assessed"] == 4 and result["coverage"] == Decimal("80.00")
    sections = {s["section"]: s["score"] for s in result["sections"]}
    assert sections == {"Security": Decimal("87.50"), "Rights": Decimal("0.00")}
    assert score_assessments([("X", "not_applicable", Decimal(1))])["score"] is None


def test_a_score_is_rounded_half_up_to_the_cent_and_every_section_reports_in_full():
    # One half of one control out of 16 weighted: 0.5 / 16 = 3.125 %, which rounds up to 3.13 (half-even: 3.12).
    rows = [
        ("Transfers", "partially", Decimal(1)),
        ("Transfers", "non_compliant", Decimal(15)),
        ("Retention", "compliant", Decimal("2.5")),
        ("Retention", "not_assessed", Decimal(4)),
        ("Retention", "not_applicable", Decimal(1)),
    ]
    zero = dict.fromkeys(["compliant", "partially", "non_compliant", "not_applicable", "not_assessed"], 0)
    result = score_assessments(rows)
    # The whole audit: (0.5*1 + 0*15 + 1*2.5) / (1 + 15 + 2.5) = 3 / 18.5 = 16.216... %.
    assert result["score"] == Decimal("16.22")
    assert (result["controls"], result["assessed"], result["coverage"]) == (5, 4, Decimal("80.00"))
    assert result["counts"] == zero | {
        "compliant": 1,
        "partially": 1,
        "non_compliant": 1,
        "not_applicable": 1,
        "not_assessed": 1,
    }
    assert result["sections"] == [
        {
            "section": "Transfers",
            "score": Decimal("3.13"),
            "controls": 2,
            "assessed": 2,
            "coverage": Decimal("100.00"),
            "counts": zero | {"partially": 1, "non_compliant": 1},
        },
        {
            "section": "Retention",
            "score": Decimal("100.00"),
            "controls": 3,
            "assessed": 2,
            "coverage": Decimal("66.67"),
            "counts": zero | {"compliant": 1, "not_assessed": 1, "not_applicable": 1},
        },
    ]


def test_an_audit_with_nothing_assessed_has_no_score_rather_than_zero():
    nothing = score_assessments([])
    assert (nothing["score"], nothing["controls"], nothing["coverage"], nothing["sections"]) == (None, 0, None, [])
    unassessed = score_assessments([("Rights", "not_assessed", Decimal(1)), ("Rights", "not_applicable", Decimal(2))])
    assert (unassessed["score"], unassessed["assessed"], unassessed["coverage"]) == (None, 1, Decimal("50.00"))
    failed = score_assessments([("Rights", "non_compliant", Decimal(1))])
    assert failed["score"] == Decimal("0.00"), "every applicable control failed: 0, not None"
    twice = score_assessments([("Rights", "compliant", Decimal(1)), ("Rights", "compliant", Decimal(1))])
    assert (twice["controls"], twice["counts"]["compliant"], twice["sections"][0]["counts"]["compliant"]) == (2, 2, 2)


def _assess_all(audit, by, result_for=lambda control: AssessmentResult.COMPLIANT):
    for assessment in audit.assessments.select_related("control"):
        control_assessment_record(assessment=assessment, by=by, result=result_for(assessment.control))


def test_audit_lifecycle_needs_every_control_assessed_and_freezes_the_score(make_audit, officer):
    audit = make_audit()
    assert audit.assessments.count() == audit.framework_version.controls.count() == 15
    with pytest.raises(Conflict, match="assessed during fieldwork"):
        control_assessment_record(assessment=audit.assessments.first(), by=officer, result="compliant")
    privacy_audit_start_fieldwork(audit=audit, by=officer)
    with pytest.raises(Conflict, match="15 control"):
        privacy_audit_start_reporting(audit=audit, by=officer)
    _assess_all(audit, officer, lambda c: "non_compliant" if c.ref == "GDPR-32" else "compliant")
    privacy_audit_start_reporting(audit=audit, by=officer)
    closed = privacy_audit_close(audit=audit, by=officer)
    # GDPR-32 weighs 3 of the 24 total weight.
    assert closed.status == AuditStatus.CLOSED and closed.score == Decimal("87.50")
    assert audit_score(closed)["score"] == Decimal("87.50")
    event = AuditEvent.objects.filter(action="privacy_audit.status_changed").latest("seq")
    assert event.before == {"status": "reporting", "score": None}
    assert event.after == {"status": "closed", "score": "87.5"}
    with pytest.raises(Conflict, match="is closed"):
        privacy_audit_close(audit=closed, by=officer)


@pytest.mark.parametrize("role_user", ["engineer", "viewer"])
def test_only_compliance_and_owner_run_audits(request, make_audit, role_user):
    user = request.getfixturevalue(role_user)
    with pytest.raises(PermissionDenied) as refused:
        make_audit(by=user)
    assert refused.value.message == (
        f"To plan and run privacy audits you need one of the roles: compliance, owner. "
        f"Your role in Acme Compute is {role_user}."
    )


def test_api_runs_an_audit_and_reports_score_and_trend(client_for, org, officer, viewer, gdpr, make_audit):
    client = client_for(officer)
    response = client.post(
        "/api/privacy-audits/",
        {
            "organization": str(org.pk),
            "framework": "gdpr",
            "title": "GDPR H1",
            "period_start": "2026-01-01",
            "period_end": "2026-06-30",
            "auditor_type": "external",
            "auditor_name": "Privacy Partners LLP",
        },
    )
    assert response.status_code == 201, response.json()
    audit = response.json()
    assert audit["framework_version_label"] == gdpr.version and audit["control_count"] == 15

    response = client.post(f"/api/privacy-audits/{audit['id']}/start-reporting/")
    assert response.status_code == 409
    assert response.json()["message"] == (
        "Cannot start reporting on audit 'GDPR H1': it is planned, and must be fieldwork."
    )
    assert client.post(f"/api/privacy-audits/{audit['id']}/start-fieldwork/").status_code == 200

    assessments = client.get(f"/api/control-assessments/?audit={audit['id']}&page_size=50").json()["results"]
    assert len(assessments) == 15
    for item in assessments:
        result = "partially" if item["control_ref"] == "GDPR-33" else "compliant"
        response = client.patch(f"/api/control-assessments/{item['id']}/", {"result": result, "notes": "seen"})
        assert response.status_code == 200, response.json()
    bad = client.patch(f"/api/control-assessments/{assessments[0]['id']}/", {"result": "mostly"})
    assert bad.status_code == 400 and list(bad.json()["extra"]["fields"]) == ["result"]

    evidence = SimpleUploadedFile("ropa.pdf", b"%PDF-1.4 record of processing")
    response = client.post(
        f"/api/control-assessments/{assessments[0]['id']}/evidence/", {"file": evidence}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "ropa.pdf" and len(response.json()["sha256"]) == 64

    score = client.get(f"/api/privacy-audits/{audit['id']}/score/").json()
    assert score["score"] == "95.83" and score["coverage"] == "100.00"  # GDPR-33 (weight 2) half of 24
    assert {s["section"] for s in score["sections"]} >= {"Lawful basis", "Breach notification"}
    for step in ("start-reporting", "close"):
        assert client.post(f"/api/privacy-audits/{audit['id']}/{step}/").status_code == 200

    later = make_audit(title="GDPR H2", period_start=dt.date(2026, 7, 1), period_end=dt.date(2026, 12, 31))
    privacy_audit_start_fieldwork(audit=later, by=officer)
    _assess_all(later, officer)
    privacy_audit_start_reporting(audit=later, by=officer)
    privacy_audit_close(audit=later, by=officer)

    trend = client_for(viewer).get(f"/api/privacy-audits/trend/?organization={org.pk}").json()
    assert [(t["framework"], t["latest_score"]) for t in trend] == [("gdpr", "100.00")]
    assert [p["score"] for p in trend[0]["points"]] == ["95.83", "100.00"]


def test_viewer_reads_but_cannot_assess_and_another_org_gets_404(client_for, make_audit, officer, viewer, outsider):
    audit = make_audit()
    privacy_audit_start_fieldwork(audit=audit, by=officer)
    assessment = audit.assessments.first()
    assert client_for(viewer).get(f"/api/privacy-audits/{audit.pk}/").status_code == 200
    response = client_for(viewer).patch(f"/api/control-assessments/{assessment.pk}/", {"result": "compliant"})
    assert response.status_code == 403 and "compliance, owner" in response.json()["message"]

    stranger = client_for(outsider)
    assert stranger.get(f"/api/privacy-audits/{audit.pk}/").status_code == 404
    assert stranger.post(f"/api/privacy-audits/{audit.pk}/start-reporting/").status_code == 404
    assert stranger.patch(f"/api/control-assessments/{assessment.pk}/", {"result": "compliant"}).status_code == 404
    assert stranger.get("/api/privacy-audits/").json()["results"] == []
    assert ControlAssessment.objects.get(pk=assessment.pk).result == "not_assessed"


def test_audit_and_assessment_lists_take_constant_queries(
    client_for, make_audit, officer, django_assert_max_num_queries
):
    for n in range(6):
        make_audit(title=f"Audit {n}")
    client = client_for(officer)
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/privacy-audits/?page_size=2").json()["results"]) == 2
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/privacy-audits/?page_size=6").json()["results"]) == 6
    with django_assert_max_num_queries(7):
        assert len(client.get("/api/control-assessments/?page_size=60").json()["results"]) == 60
