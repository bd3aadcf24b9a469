"""The dashboard's forms call the services: errors land beside the field they name, a refused role reads why."""

import datetime as dt
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.compliance.models import AssessmentResult, ControlAssessment
from apps.funding.models import Grant, Milestone, MilestoneStatus
from apps.funding.services.milestones import milestone_create
from apps.risks.models import Risk
from apps.tenancy.models import Role


def grant_post(funder, **overrides) -> dict:
    return {
        "funder": str(funder.pk),
        "title": "Open edge inference",
        "currency": "EUR",
        "amount_requested": "250000",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    } | overrides


def test_create_grant(browser_for, people, funder):
    response = browser_for(people[Role.FINANCE]).post("/grants/new/", grant_post(funder))
    grant = Grant.objects.get(title="Open edge inference")
    assert response.status_code == 302 and response["Location"] == f"/grants/{grant.pk}/"
    assert grant.status == "draft" and grant.owner == people[Role.FINANCE]


def test_service_error_is_shown_next_to_its_field(browser_for, people, funder):
    response = browser_for(people[Role.FINANCE]).post("/grants/new/", grant_post(funder, period_end="2025-01-01"))
    text = response.content.decode()
    assert response.status_code == 400
    # The service's complaint, on the field it names (its errorlist sits inside that field's group).
    assert "The period ends before it starts." in text
    assert text.index('id="id_period_end_error"') < text.index('name="period_end"')
    assert not Grant.objects.exists()


def test_a_role_without_permission_does_not_see_the_action_and_gets_the_reason(browser_for, people, funder):
    viewer = browser_for(people[Role.VIEWER])
    assert "New grant" not in viewer.get("/grants/").content.decode()
    response = viewer.post("/grants/new/", grant_post(funder))
    assert response.status_code == 403
    assert "you need one of the roles: finance, owner" in response.content.decode()
    assert not Grant.objects.exists()


def test_add_milestone_over_budget_shows_the_error_on_amount(browser_for, people, make_grant):
    grant = make_grant(amount="10000")
    response = browser_for(people[Role.FINANCE]).post(
        f"/grants/{grant.pk}/milestones/",
        {"title": "Too big", "amount": "20000", "due_date": "2026-06-01"},
    )
    text = response.content.decode()
    assert response.status_code == 400
    assert "more than the budget" in text
    assert text.index('id="id_amount_error"') < text.index('name="amount"')


def test_milestone_from_creation_to_release(browser_for, people, make_grant):
    grant = make_grant()
    finance, engineer = browser_for(people[Role.FINANCE]), browser_for(people[Role.ENGINEER])
    response = finance.post(
        f"/grants/{grant.pk}/milestones/",
        {"title": "Pilot online", "amount": "20000", "due_date": "2026-06-01", "criterion": "Pilot report accepted"},
    )
    assert response.status_code == 302
    milestone = Milestone.objects.get(title="Pilot online")
    evidence = SimpleUploadedFile("pilot.csv", b"board,online\nb1,yes\n", content_type="text/csv")
    assert engineer.post(f"/milestones/{milestone.pk}/evidence/", {"file": evidence}).status_code == 302
    assert engineer.post(f"/milestones/{milestone.pk}/action/", {"action": "submit"}).status_code == 302

    # Verification waits for the manual criterion: the refusal is shown on the page.
    refused = finance.post(f"/milestones/{milestone.pk}/action/", {"action": "verify"})
    assert refused.status_code == 409
    assert "criteria not met: Pilot report accepted" in refused.content.decode()

    owner = browser_for(people[Role.OWNER])
    criterion = milestone.criteria.get()
    assert owner.post(f"/criteria/{criterion.pk}/approve/").status_code == 302
    assert finance.post(f"/milestones/{milestone.pk}/action/", {"action": "verify"}).status_code == 302
    # The verifier may not also approve the release (separation of duties); the owner does.
    refused = finance.post(f"/milestones/{milestone.pk}/action/", {"action": "approve_release"})
    assert refused.status_code == 403 and "a second person must approve" in refused.content.decode()
    assert owner.post(f"/milestones/{milestone.pk}/action/", {"action": "approve_release"}).status_code == 302
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.RELEASED
    page = finance.get(f"/grants/{grant.pk}/").content.decode()
    assert "pilot.csv" in page and milestone.evidence.get().sha256 in page
    assert "Record a disbursement" in page


def test_engineer_does_not_see_verify_and_gets_the_reason_when_posting(browser_for, people, make_grant):
    grant = make_grant()
    milestone = milestone_create(
        parent=grant, by=people[Role.FINANCE], title="M", amount=Decimal("100"), due_date=dt.date(2026, 5, 1)
    )
    engineer = browser_for(people[Role.ENGINEER])
    engineer.post(f"/milestones/{milestone.pk}/action/", {"action": "submit"})
    page = engineer.get(f"/grants/{grant.pk}/").content.decode()
    assert 'data-action="verify"' not in page
    response = engineer.post(f"/milestones/{milestone.pk}/action/", {"action": "verify"})
    assert response.status_code == 403
    assert "To verify a milestone you need one of the roles" in response.content.decode()


def test_evidence_of_a_refused_type_is_explained_on_the_file_field(browser_for, people, make_grant):
    grant = make_grant()
    milestone = milestone_create(
        parent=grant, by=people[Role.FINANCE], title="M", amount=Decimal("100"), due_date=dt.date(2026, 5, 1)
    )
    upload = SimpleUploadedFile("tool.exe", b"MZ\x90\x00", content_type="application/octet-stream")
    response = browser_for(people[Role.ENGINEER]).post(f"/milestones/{milestone.pk}/evidence/", {"file": upload})
    text = response.content.decode()
    assert response.status_code == 400
    assert "Files of type &#x27;.exe&#x27; are refused" in text
    assert text.index('id="id_file_error"') < text.index('name="file"')


def test_record_disbursement(browser_for, people, make_grant):
    grant = make_grant()
    milestone = milestone_create(
        parent=grant, by=people[Role.FINANCE], title="M", amount=Decimal("1000"), due_date=dt.date(2026, 5, 1)
    )
    Milestone.objects.filter(pk=milestone.pk).update(status=MilestoneStatus.RELEASED)
    Grant.objects.filter(pk=grant.pk).update(amount_awarded=Decimal("500000"))
    finance = browser_for(people[Role.FINANCE])
    too_much = finance.post(
        f"/grants/{grant.pk}/disbursements/",
        {"milestone": str(milestone.pk), "amount": "5000", "paid_on": "2026-05-02"},
    )
    assert too_much.status_code == 400
    assert "left to disburse" in too_much.content.decode()
    ok = finance.post(
        f"/grants/{grant.pk}/disbursements/",
        {"milestone": str(milestone.pk), "amount": "1000", "paid_on": "2026-05-02", "reference": "SEPA-1"},
    )
    assert ok.status_code == 302
    milestone.refresh_from_db()
    assert milestone.amount_disbursed == Decimal("1000")


def test_assess_a_control_inline_with_htmx(browser_for, people, audit):
    assessment = ControlAssessment.objects.filter(audit=audit).order_by("control__position").first()
    client = browser_for(people[Role.COMPLIANCE])
    page = client.get(f"/compliance/audits/{audit.pk}/").content.decode()
    assert f'hx-post="/compliance/assessments/{assessment.pk}/"' in page
    prefix = str(assessment.pk)
    response = client.post(
        f"/compliance/assessments/{assessment.pk}/",
        {f"{prefix}-result": AssessmentResult.COMPLIANT, f"{prefix}-notes": "Policy published"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<details class="control" id="assessment-{assessment.pk}" open>')
    assert "Saved" in body
    # The score beside the controls is swapped out of band: 1 of 15 assessed, without a reload.
    assert '<div class="kpis" id="audit-score" hx-swap-oob="true"' in body
    assert '<div class="value">1/15</div>' in body
    assessment.refresh_from_db()
    assert assessment.result == AssessmentResult.COMPLIANT


def test_a_viewer_cannot_assess_controls(browser_for, people, audit):
    assessment = ControlAssessment.objects.filter(audit=audit).first()
    client = browser_for(people[Role.VIEWER])
    assert "hx-post" not in client.get(f"/compliance/audits/{audit.pk}/").content.decode()
    prefix = str(assessment.pk)
    response = client.post(f"/compliance/assessments/{assessment.pk}/", {f"{prefix}-result": "compliant"})
    assert response.status_code == 403
    assert "plan and run privacy audits" in response.content.decode()


def test_update_a_risk_with_a_score_off_the_matrix(browser_for, people, make_risk):
    risk = make_risk()
    client = browser_for(people[Role.COMPLIANCE])
    values = {
        "title": risk.title,
        "inherent_likelihood": 4,
        "inherent_impact": 4,
        "current_likelihood": 4,
        "current_impact": 4,
        "residual_likelihood": 9,
        "residual_impact": 2,
        "treatment": "mitigate",
    }
    response = client.post(f"/risks/{risk.pk}/", values)
    text = response.content.decode()
    assert response.status_code == 400
    assert "Must be a whole number from 1 to 5" in text
    assert text.index('id="id_residual_likelihood_error"') < text.index('name="residual_likelihood"')
    assert client.post(f"/risks/{risk.pk}/", values | {"residual_likelihood": 1}).status_code == 302
    risk.refresh_from_db()
    assert risk.residual_likelihood == 1


def test_an_engineer_updates_only_the_risks_they_own(browser_for, people, make_risk):
    others = make_risk(title="Not mine", owner=people[Role.COMPLIANCE])
    engineer = browser_for(people[Role.ENGINEER])
    assert "Update the risk" not in engineer.get(f"/risks/{others.pk}/").content.decode()
    response = engineer.post(
        f"/risks/{others.pk}/",
        {
            "title": "Renamed",
            "inherent_likelihood": 4,
            "inherent_impact": 4,
            "current_likelihood": 4,
            "current_impact": 4,
            "residual_likelihood": 2,
            "residual_impact": 2,
            "treatment": "mitigate",
        },
    )
    assert response.status_code == 403
    assert "update a risk owned by someone else" in response.content.decode()
    assert Risk.objects.get(pk=others.pk).title == "Not mine"


def test_labels_are_words_and_currency_is_an_iso_4217_choice(browser_for, people, funder):
    page = browser_for(people[Role.FINANCE]).get("/grants/new/").content.decode()
    assert '<label for="id_title">Title</label>' in page and "Title:" not in page
    assert '<select name="currency"' in page and '<option value="EUR" selected>EUR</option>' in page
    assert '<option value="XAU">' in page  # every ISO 4217 code, the common ones first


def test_a_refused_post_puts_the_page_address_back(browser_for, people, audit):
    officer = browser_for(people[Role.COMPLIANCE])
    refused = officer.post(f"/compliance/audits/{audit.pk}/action/", {"action": "start_reporting"})
    assert refused.status_code == 409
    assert f'data-canonical-url="/compliance/audits/{audit.pk}/"' in refused.content.decode()
