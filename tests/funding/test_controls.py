"""Separation of duties, the organization's policy, and corrections without edits (PostgreSQL, through the API)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.funding.models import Disbursement, Evidence, Milestone, MilestoneStatus, OrganizationPolicy
from tests.factories import OrganizationFactory, member
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def post(client, milestone, step, body=None):
    return client.post(f"/api/milestones/{milestone.pk}/{step}/", body or {}, format="json")


def submitted_by(person, org, client_for, **fields) -> Milestone:
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), **fields)
    assert post(client_for(person), milestone, "submit").status_code == 200
    return milestone


@pytest.mark.parametrize("role", ["owner", "finance"])
def test_whoever_submitted_cannot_verify(org, people, client_for, role):
    milestone = submitted_by(people[role], org, client_for)
    refused = post(client_for(people[role]), milestone, "verify")
    assert refused.status_code == 403
    assert "another person must verify it" in refused.json()["message"]
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.SUBMITTED


def test_whoever_uploaded_evidence_cannot_verify(org, people, client_for):
    milestone = submitted_by(people["engineer"], org, client_for)
    Evidence.objects.create(
        milestone=milestone, original_name="run.csv", content_type="text/csv", size=1, sha256="0" * 64,
        uploaded_by=people["finance"], file="evidence/x",
    )  # fmt: skip
    refused = post(client_for(people["finance"]), milestone, "verify")
    assert refused.status_code == 403 and "or its evidence" in refused.json()["message"]
    assert post(client_for(people["owner"]), milestone, "verify").status_code == 200


@pytest.mark.parametrize("role", ["owner", "finance"])
def test_the_verifier_cannot_approve_the_release(org, people, client_for, role):
    milestone = submitted_by(people["engineer"], org, client_for, amount=Decimal("40000"))
    assert post(client_for(people[role]), milestone, "verify").status_code == 200
    refused = post(client_for(people[role]), milestone, "approve-release")
    assert refused.status_code == 403
    assert refused.json()["message"] == "You verified this milestone: a second person must approve its release."
    other = "finance" if role == "owner" else "owner"
    body = post(client_for(people[other]), milestone, "approve-release").json()
    assert body["status"] == "released"
    assert body["verified_by"] == people[role].username and body["submitted_by"] == "engineer-acme"


def test_an_owner_alone_cannot_take_a_milestone_from_submitted_to_released(org, people, client_for):
    owner = client_for(people["owner"])
    milestone = submitted_by(people["owner"], org, client_for, amount=Decimal("40000"))
    assert post(owner, milestone, "verify").status_code == 403
    Milestone.objects.filter(pk=milestone.pk).update(status=MilestoneStatus.VERIFIED, verified_by=people["owner"])
    assert post(owner, milestone, "approve-release").status_code == 403
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED and milestone.released_at is None


def test_the_submitter_cannot_approve_a_manual_criterion_of_their_milestone(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org))
    owner = client_for(people["owner"])
    criterion = owner.post(
        f"/api/milestones/{milestone.pk}/criteria/", {"kind": "manual", "description": "Board sign-off"}, format="json"
    ).json()
    assert post(owner, milestone, "submit").status_code == 200
    refused = owner.post(f"/api/milestone-criteria/{criterion['id']}/approve/", {}, format="json")
    assert refused.status_code == 403 and "separation of duties" in refused.json()["message"]


def test_at_the_threshold_one_approval_releases_and_above_it_two_roles_are_needed(org, people, client_for):
    OrganizationPolicy.objects.create(organization=org, dual_approval_above=Decimal("50000"))
    at = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("50000"), status="verified")
    assert post(client_for(people["finance"]), at, "approve-release").json()["status"] == "released"

    above = MilestoneFactory(
        grant=GrantFactory(organization=org, amount_awarded=Decimal("200000")), amount=Decimal("50000.01"),
        status="verified",
    )  # fmt: skip
    body = post(client_for(people["finance"]), above, "approve-release").json()
    assert body["status"] == "verified"
    assert body["release"]["summary"] == "1 of 2 approvals recorded: an owner must approve next."
    second_finance = member(org, "finance", username="fin-2")
    body = post(client_for(second_finance), above, "approve-release").json()
    assert body["status"] == "verified", "two finance users are not finance + owner"
    body = post(client_for(people["owner"]), above, "approve-release").json()
    assert body["status"] == "released"
    assert [a["role"] for a in body["approvals"]] == ["finance", "finance", "owner"]


def test_per_currency_threshold_applies_to_that_currency_only(org, people, client_for):
    OrganizationPolicy.objects.create(
        organization=org, dual_approval_above=Decimal("100000"), dual_approval_above_by_currency={"EUR": "10000"}
    )
    eur = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("20000"), status="verified")
    assert eur.currency == "EUR"
    assert post(client_for(people["finance"]), eur, "approve-release").json()["status"] == "verified"
    usd = MilestoneFactory(
        grant=GrantFactory(organization=org, currency="USD"), amount=Decimal("20000"), currency="USD", status="verified"
    )
    assert post(client_for(people["finance"]), usd, "approve-release").json()["status"] == "released"


def test_policy_is_per_organization_changed_by_the_owner_and_audited(org, people, client_for):
    other = OrganizationFactory(name="Other")
    finance = client_for(people["finance"])
    refused = finance.patch(f"/api/funding-policies/{org.pk}/", {"dual_approval_above": "1000"}, format="json")
    assert refused.status_code == 403 and "owner" in refused.json()["message"]
    owner = client_for(people["owner"])
    response = owner.patch(
        f"/api/funding-policies/{org.pk}/",
        {"dual_approval_above": "1000", "disbursement_grace_days": 30},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["dual_approval_above"] == "1000.00"
    event = AuditEvent.objects.get(action="policy.updated")
    assert event.before == {"dual_approval_above": "50000", "disbursement_grace_days": 90}
    assert event.after == {"dual_approval_above": "1000", "disbursement_grace_days": 30}
    assert event.actor_id == people["owner"].pk
    assert owner.get(f"/api/funding-policies/{other.pk}/").status_code == 404
    assert not OrganizationPolicy.objects.filter(organization=other).exists()
    bad = owner.patch(f"/api/funding-policies/{org.pk}/", {"dual_approval_roles": ["owner"]}, format="json")
    assert bad.status_code == 400 and list(bad.json()["extra"]["fields"]) == ["dual_approval_roles"]


def test_allowed_actions_say_who_may_act_and_why_not(org, people, client_for):
    milestone = submitted_by(people["finance"], org, client_for)
    actions = {
        a["action"]: a for a in client_for(people["finance"]).get(f"/api/milestones/{milestone.pk}/").json()[
            "allowed_actions"]
    }  # fmt: skip
    assert actions["verify"]["allowed"] is False and "another person" in actions["verify"]["reason"]
    assert actions["return_for_changes"]["allowed"] is True
    viewer = {a["action"]: a for a in client_for(people["viewer"]).get(f"/api/milestones/{milestone.pk}/").json()[
        "allowed_actions"]}  # fmt: skip
    assert viewer["verify"]["allowed"] is False and "Your role" in viewer["verify"]["reason"]
    assert viewer["dispute"]["allowed"] is True


# --- corrections without edits ---------------------------------------------------------------------------


def test_return_for_changes_needs_a_reason_the_submitter_reads(org, people, client_for):
    milestone = submitted_by(people["engineer"], org, client_for)
    finance = client_for(people["finance"])
    missing = post(finance, milestone, "return-for-changes", {"reason": ""})
    assert missing.status_code == 400 and "reason" in missing.json()["extra"]["fields"]
    body = post(finance, milestone, "return-for-changes", {"reason": "Logs cover 5 of 7 days"}).json()
    assert body["status"] == "in_progress" and body["status_reason"] == "Logs cover 5 of 7 days"
    seen = client_for(people["engineer"]).get(f"/api/milestones/{milestone.pk}/").json()
    assert seen["status_reason"] == "Logs cover 5 of 7 days"


def released(org, **fields) -> Milestone:
    grant = GrantFactory(organization=org, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 6, 30))
    return MilestoneFactory(grant=grant, status="released", due_date=dt.date(2026, 6, 1), **fields)


def pay(client, milestone, amount="1000", paid_on="2026-06-15"):
    return client.post(
        "/api/disbursements/",
        {"milestone": str(milestone.pk), "amount": amount, "paid_on": paid_on, "reference": "SEPA-1"},
        format="json",
    )


def test_a_disbursement_is_voided_by_a_compensating_entry_and_totals_follow(org, people, client_for):
    milestone = released(org, amount=Decimal("5000"))
    finance = client_for(people["finance"])
    paid = pay(finance, milestone).json()
    assert (
        client_for(people["viewer"])
        .post(f"/api/disbursements/{paid['id']}/void/", {"reason": "x"}, format="json")
        .status_code
        == 403
    )
    response = finance.post(f"/api/disbursements/{paid['id']}/void/", {"reason": "Paid to the wrong account"},
                            format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    void = response.json()
    assert (
        void["amount"] == "-1000.00" and void["voids"] == paid["id"] and void["reason"] == "Paid to the wrong account"
    )
    milestone.refresh_from_db()
    assert milestone.amount_disbursed == 0 and milestone.grant.amount_disbursed == 0
    assert Disbursement.objects.filter(milestone=milestone).count() == 2  # both rows stay
    listed = {row["id"]: row for row in finance.get("/api/disbursements/").json()["results"]}
    assert listed[paid["id"]]["voided_by"] == void["id"]
    again = finance.post(f"/api/disbursements/{paid['id']}/void/", {"reason": "again"}, format="json")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action="disbursement.voided").count() == 1
    assert pay(finance, milestone, amount="5000").status_code == 201  # the voided amount is payable again


@pytest.mark.parametrize(
    ("paid_on", "ok"),
    [("2026-06-30", True), ("2026-09-28", True), ("2026-09-29", False), ("2025-12-31", False)],
)
def test_payment_dates_lie_in_the_grant_period_plus_grace(org, people, client_for, paid_on, ok):
    OrganizationPolicy.objects.create(organization=org, disbursement_grace_days=90)  # 30 Jun + 90 days = 28 Sep
    response = pay(client_for(people["finance"]), released(org), paid_on=paid_on)
    assert (response.status_code == 201) is ok, response.json()
    if not ok:
        assert list(response.json()["extra"]["fields"]) == ["paid_on"]


def test_a_payment_cannot_be_dated_in_the_future(org, people, client_for):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    grant = GrantFactory(
        organization=org, period_start=timezone.localdate() - dt.timedelta(days=30),
        period_end=timezone.localdate() + dt.timedelta(days=30),
    )  # fmt: skip
    milestone = MilestoneFactory(grant=grant, status="released", due_date=timezone.localdate())
    response = pay(client_for(people["finance"]), milestone, paid_on=tomorrow)
    assert response.status_code == 400 and "future" in response.json()["message"]


def test_grant_rejection_needs_a_reason_and_is_audited(org, people, client_for):
    grant = GrantFactory(organization=org, status="under_review")
    finance = client_for(people["finance"])
    assert finance.post(f"/api/grants/{grant.pk}/reject/", {"reason": ""}, format="json").status_code == 400
    body = finance.post(f"/api/grants/{grant.pk}/reject/", {"reason": "Out of scope"}, format="json").json()
    assert body["status"] == "rejected" and body["status_reason"] == "Out of scope"
    event = AuditEvent.objects.get(action="grant.status_changed")
    assert event.before == {"status": "under_review"} and event.after == {
        "status": "rejected",
        "reason": "Out of scope",
    }


def test_returning_a_verified_milestone_lapses_its_release_approvals_on_the_record(org, people, client_for):
    OrganizationPolicy.objects.create(organization=org, dual_approval_above=Decimal("100"))
    milestone = submitted_by(people["engineer"], org, client_for, amount=Decimal("5000"))
    assert post(client_for(people["owner"]), milestone, "verify").status_code == 200
    assert post(client_for(people["finance"]), milestone, "approve-release").json()["status"] == "verified"
    body = post(client_for(people["owner"]), milestone, "return-for-changes", {"reason": "Wrong invoice"}).json()
    assert body["status"] == "in_progress" and body["approvals"] == []
    event = AuditEvent.objects.filter(action="milestone.status_changed").order_by("-seq").first()
    assert event.after["release_approvals_lapsed"] == ["finance-acme (finance)"]


def test_above_the_threshold_the_verifier_gives_one_role_approval_and_never_releases_alone(org, people, client_for):
    milestone = submitted_by(people["engineer"], org, client_for, amount=Decimal("60000"))
    Milestone.objects.filter(pk=milestone.pk).update(
        grant=GrantFactory(organization=org, amount_awarded=Decimal("90000"))
    )
    assert post(client_for(people["finance"]), milestone, "verify").status_code == 200
    body = post(client_for(people["finance"]), milestone, "approve-release").json()
    assert body["status"] == "verified"
    assert body["release"]["summary"] == "1 of 2 approvals recorded: an owner must approve next."
    assert post(client_for(people["owner"]), milestone, "approve-release").json()["status"] == "released"
