"""Corrections in the browser: a grant rejected, a milestone returned for changes or amended, a disbursement voided,
and a milestone held in conflict accepted by the owner. Each through the dashboard's own posts, for the role that
may and refused for those that may not, with what the person reads afterwards."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.escrow.models import EscrowAgreement, EscrowMilestone, EscrowToken, OnchainMilestoneStatus
from apps.funding.models import Disbursement, DisbursementKind, Grant, GrantStatus, Milestone, MilestoneStatus
from apps.funding.services.disbursements import disbursement_record
from apps.tenancy.models import Role
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db

OUR_HASH = "0x" + "a" * 64
CHAIN_HASH = "0x" + "c" * 64


def text(response) -> str:
    return response.content.decode()


def followed(client, response) -> str:
    assert response.status_code == 302, text(response)
    return text(client.get(response["Location"]))


def last_event(obj) -> AuditEvent:
    return AuditEvent.objects.filter(object_id=str(obj.pk)).latest("seq")


def escrowed(milestone: Milestone, *, onchain_status=OnchainMilestoneStatus.PENDING, withdrawn=0) -> EscrowMilestone:
    """The milestone's funds held in an escrow agreement (rows only: what the indexer would have written)."""
    token = EscrowToken.objects.create(
        chain_id=31337, address="0x" + "1" * 40, symbol="DUSD", decimals=6, currency=milestone.currency
    )
    units = int(milestone.amount * 10**6)
    agreement = EscrowAgreement.objects.create(
        organization=milestone.organization,
        grant=milestone.grant,
        chain_id=31337,
        contract_address="0x" + "e" * 40,
        onchain_id=7,
        external_ref="0x" + "0" * 64,
        funder_address="0x" + "f" * 40,
        beneficiary_address="0x" + "b" * 40,
        token=token,
        token_address=token.address,
        token_decimals=6,
        currency=milestone.currency,
        total_base_units=units,
        threshold=1,
        status="active",
    )
    return EscrowMilestone.objects.create(
        agreement=agreement,
        milestone=milestone,
        index=0,
        amount_base_units=units,
        deadline=timezone.now() + dt.timedelta(days=30),
        onchain_status=onchain_status,
        evidence_hash=OUR_HASH,
        onchain_evidence_hash=CHAIN_HASH if onchain_status == OnchainMilestoneStatus.APPROVED else "",
        withdrawn_base_units=withdrawn,
    )


# --- grant reject ---------------------------------------------------------------------------------------------


def test_finance_rejects_a_grant_with_a_reason_and_reads_it_back(browser_for, people, org):
    grant = GrantFactory(organization=org, status=GrantStatus.SUBMITTED, amount_awarded=None)
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert 'data-action="reject"' in page and "Reject this grant? This cannot be undone." in page  # asks first
    assert 'name="note" id="note-' in page and "required" in page

    refused = finance.post(f"/grants/{grant.pk}/status/", {"action": "reject"})
    assert refused.status_code == 400 and "Say why: a reason is required for this step." in text(refused)
    assert Grant.objects.get(pk=grant.pk).status == GrantStatus.SUBMITTED

    page = followed(finance, finance.post(f"/grants/{grant.pk}/status/", {"action": "reject", "note": "Out of scope"}))
    assert f"Grant “{grant.title}” is now rejected. The reason is on the record: “Out of scope”." in page
    grant.refresh_from_db()
    assert (grant.status, grant.status_reason) == (GrantStatus.REJECTED, "Out of scope")
    event = last_event(grant)
    assert event.action == "grant.status_changed" and event.actor_repr == people[Role.FINANCE].username
    assert event.after == {"status": "rejected", "reason": "Out of scope"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_a_viewer_or_engineer_cannot_reject_a_grant(browser_for, people, org, role):
    grant = GrantFactory(organization=org, status=GrantStatus.SUBMITTED, amount_awarded=None)
    client = browser_for(people[role])
    assert 'data-action="reject"' not in text(client.get(f"/grants/{grant.pk}/"))
    refused = client.post(f"/grants/{grant.pk}/status/", {"action": "reject", "note": "No"})
    assert refused.status_code == 403 and f"Your role in Acme Compute is {role}" in text(refused)
    assert Grant.objects.get(pk=grant.pk).status == GrantStatus.SUBMITTED


def test_an_action_the_table_does_not_offer_a_person_is_not_found(browser_for, people, org):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status=MilestoneStatus.VERIFIED)
    owner = browser_for(people[Role.OWNER])
    assert owner.post(f"/milestones/{milestone.pk}/action/", {"action": "delete"}).status_code == 404
    # A step only govtrack takes (the chain's confirmed event) is not a person's to post.
    assert owner.post(f"/milestones/{milestone.pk}/action/", {"action": "release_from_chain"}).status_code == 404
    assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.VERIFIED


# --- milestone return for changes -------------------------------------------------------------------------------


def test_finance_returns_a_milestone_for_changes_and_the_submitter_reads_why(browser_for, people, org):
    grant = GrantFactory(organization=org)
    milestone = MilestoneFactory(grant=grant, status=MilestoneStatus.SUBMITTED, submitted_by=people[Role.ENGINEER])
    finance = browser_for(people[Role.FINANCE])
    refused = finance.post(f"/milestones/{milestone.pk}/action/", {"action": "return_for_changes"})
    assert refused.status_code == 400 and "a reason is required" in text(refused)

    posted = finance.post(
        f"/milestones/{milestone.pk}/action/", {"action": "return_for_changes", "note": "Attach the logs of March"}
    )
    assert posted["Location"] == f"/grants/{grant.pk}/#m-{milestone.pk}"
    page = followed(finance, posted)
    assert "is back in progress; the submitter reads your reason: “Attach the logs of March”." in page
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.IN_PROGRESS
    event = last_event(milestone)
    assert event.action == "milestone.status_changed"
    assert (event.before["status"], event.after["status"]) == ("submitted", "in_progress")

    # The engineer who submitted it reads the reason on the milestone.
    assert "“Attach the logs of March”" in text(browser_for(people[Role.ENGINEER]).get(f"/grants/{grant.pk}/"))


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_a_viewer_or_engineer_cannot_return_a_milestone(browser_for, people, org, role):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status=MilestoneStatus.SUBMITTED)
    client = browser_for(people[role])
    assert 'data-action="return_for_changes"' not in text(client.get(f"/grants/{milestone.grant_id}/"))
    refused = client.post(f"/milestones/{milestone.pk}/action/", {"action": "return_for_changes", "note": "x"})
    assert refused.status_code == 403 and f"Your role in Acme Compute is {role}" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.SUBMITTED


def test_resolving_a_dispute_takes_the_outcome_chosen(browser_for, people, org):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status=MilestoneStatus.DISPUTED)
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{milestone.grant_id}/"))
    assert 'name="outcome"' in page and '<option value="missed">Missed</option>' in page
    posted = finance.post(f"/milestones/{milestone.pk}/action/", {"action": "resolve_dispute", "outcome": "missed"})
    assert posted.status_code == 302
    assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.MISSED


# --- milestone amendment --------------------------------------------------------------------------------------------


def amend(milestone: Milestone, **changes) -> dict:
    values = {
        "title": milestone.title,
        "description": milestone.description,
        "amount": str(milestone.amount),
        "due_date": milestone.due_date.isoformat(),
    } | changes
    return {f"amend-{milestone.pk}-{name}": value for name, value in values.items()}


def test_finance_amends_a_milestones_plan_until_it_is_verified(browser_for, people, org):
    grant = GrantFactory(organization=org)
    milestone = MilestoneFactory(grant=grant, status=MilestoneStatus.SUBMITTED, title="Pilot", amount=Decimal("10000"))
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert "Amend the plan" in page and "title, description, amount and due date may change" in page

    posted = finance.post(
        f"/milestones/{milestone.pk}/amend/", amend(milestone, title="Pilot, two sites", amount="12000")
    )
    page = followed(finance, posted)
    assert "“Pilot, two sites” amended (title, amount); the audit trail keeps what it was before." in page
    milestone.refresh_from_db()
    assert (milestone.title, milestone.amount) == ("Pilot, two sites", Decimal("12000"))
    event = last_event(milestone)
    assert event.action == "milestone.updated"
    assert event.before["title"] == "Pilot" and Decimal(event.before["amount"]) == Decimal("10000")
    assert event.after["title"] == "Pilot, two sites" and Decimal(event.after["amount"]) == Decimal("12000")

    over = finance.post(f"/milestones/{milestone.pk}/amend/", amend(milestone, amount="900000"))
    assert over.status_code == 400 and "more than the award" in text(over)

    Milestone.objects.filter(pk=milestone.pk).update(status=MilestoneStatus.VERIFIED)
    assert "Amend the plan" not in text(finance.get(f"/grants/{grant.pk}/"))
    refused = finance.post(f"/milestones/{milestone.pk}/amend/", amend(milestone, title="Late change"))
    assert refused.status_code == 409 and "Cannot amend" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).title == "Pilot, two sites"


def test_an_escrowed_milestones_amount_and_deadline_are_shown_but_refused(browser_for, people, org):
    grant = GrantFactory(organization=org, currency="USD")
    milestone = MilestoneFactory(grant=grant, status=MilestoneStatus.IN_PROGRESS, amount=Decimal("2000"))
    escrowed(milestone)
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert "Its amount and due date are held in the escrow contract and cannot change." in page
    assert f'name="amend-{milestone.pk}-amount" value="2000.00"' in page and "readonly" in page

    refused = finance.post(f"/milestones/{milestone.pk}/amend/", amend(milestone, amount="2500"))
    assert refused.status_code == 409
    assert "amount and deadline are held in the escrow contract and cannot change" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).amount == Decimal("2000")
    # The title is still the organization's to change.
    assert finance.post(f"/milestones/{milestone.pk}/amend/", amend(milestone, title="Renamed")).status_code == 302


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_a_viewer_or_engineer_cannot_amend_a_milestone(browser_for, people, org, role):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status=MilestoneStatus.PLANNED, title="Plan")
    client = browser_for(people[role])
    assert "Amend the plan" not in text(client.get(f"/grants/{milestone.grant_id}/"))
    refused = client.post(f"/milestones/{milestone.pk}/amend/", amend(milestone, title="Mine now"))
    assert refused.status_code == 403 and f"Your role in Acme Compute is {role}" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).title == "Plan"


# --- disbursement void ----------------------------------------------------------------------------------------------


@pytest.fixture
def paid(org, people):
    grant = GrantFactory(organization=org, title="Edge pilot")
    milestone = MilestoneFactory(grant=grant, status=MilestoneStatus.RELEASED, amount=Decimal("5000"), title="Pilot")
    disbursement = disbursement_record(
        milestone=milestone,
        by=people[Role.FINANCE],
        amount=Decimal("1500"),
        paid_on=dt.date(2026, 11, 20),
        reference="BANK-42",
    )
    return grant, milestone, disbursement


def test_finance_voids_a_disbursement_both_entries_show_and_the_totals_follow(browser_for, people, paid):
    grant, milestone, disbursement = paid
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert "Void this payment of 1,500.00 EUR?" in page and "This cannot be undone." in page  # asks first

    refused = finance.post(f"/disbursements/{disbursement.pk}/void/", {"reason": ""})
    assert refused.status_code == 400 and "Reason: Say why: a reason is required for this step." in text(refused)
    assert not Disbursement.objects.filter(voids=disbursement).exists()

    posted = finance.post(f"/disbursements/{disbursement.pk}/void/", {"reason": "Paid to the wrong account"})
    assert posted["Location"] == f"/grants/{grant.pk}/#disbursements"
    page = followed(finance, posted)
    assert "The disbursement of 1500.00 EUR paid on 20 Nov 2026 is voided: an entry of -1500.00 EUR" in page
    void = Disbursement.objects.get(voids=disbursement)
    assert void.amount == Decimal("-1500") and void.reason == "Paid to the wrong account"
    # Both entries are listed: the payment marked voided, and the void with its reason.
    assert f'data-testid="disbursement-{disbursement.pk}"' in page and 'class="badge voided">Voided' in page
    assert f'data-testid="disbursement-{void.pk}" class="void"' in page
    assert "Void of the payment of 20 Nov 2026: “Paid to the wrong account”" in page
    assert "-1,500.00 EUR" in page and "1,500.00 EUR" in page
    grant.refresh_from_db()
    milestone.refresh_from_db()
    assert grant.amount_disbursed == milestone.amount_disbursed == Decimal("0")
    event = last_event(disbursement)
    assert event.action == "disbursement.voided" and event.after["reason"] == "Paid to the wrong account"
    # Payable again: the disbursement form offers the milestone, and a second void is refused with the reason.
    assert "Record a disbursement" in page
    again = finance.post(f"/disbursements/{disbursement.pk}/void/", {"reason": "Twice"})
    assert again.status_code == 409 and "This disbursement is already voided." in text(again)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_a_viewer_or_engineer_sees_the_disbursements_but_cannot_void(browser_for, people, paid, role):
    grant, _, disbursement = paid
    client = browser_for(people[role])
    page = text(client.get(f"/grants/{grant.pk}/"))
    assert "BANK-42" in page and 'data-action="void"' not in page
    refused = client.post(f"/disbursements/{disbursement.pk}/void/", {"reason": "Mine"})
    assert refused.status_code == 403 and f"Your role in Acme Compute is {role}" in text(refused)
    assert not Disbursement.objects.filter(voids=disbursement).exists()


def test_an_onchain_disbursement_is_not_offered_for_void(browser_for, people, org):
    grant = GrantFactory(organization=org, currency="USD")
    milestone = MilestoneFactory(grant=grant, status=MilestoneStatus.RELEASED, amount=Decimal("2000"))
    escrowed(milestone, onchain_status=OnchainMilestoneStatus.APPROVED)
    onchain = disbursement_record(
        milestone=milestone,
        by=None,
        amount=Decimal("2000"),
        paid_on=dt.date(2026, 11, 1),
        kind=DisbursementKind.ONCHAIN,
    )
    finance = browser_for(people[Role.FINANCE])
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert "On chain: only a reorg undoes it" in page and 'data-action="void"' not in page
    refused = finance.post(f"/disbursements/{onchain.pk}/void/", {"reason": "Wrong"})
    assert refused.status_code == 409 and "only a reorg undoes it" in text(refused)


# --- the way out of conflict ----------------------------------------------------------------------------------------


@pytest.fixture
def in_conflict(org):
    grant = GrantFactory(organization=org, currency="USD", title="Escrowed grant")
    milestone = MilestoneFactory(
        grant=grant,
        status=MilestoneStatus.CONFLICT,
        amount=Decimal("2000"),
        title="Tranche 1",
        status_reason=f"Attested on chain with {CHAIN_HASH}, which is not govtrack's report hash {OUR_HASH}.",
    )
    # The contract approved it and the beneficiary withdrew 1,200.50 of it while govtrack held it in conflict.
    escrowed(milestone, onchain_status=OnchainMilestoneStatus.APPROVED, withdrawn=1_200_500_000)
    return grant, milestone


def test_the_owner_accepts_the_chains_approval_of_a_milestone_in_conflict(browser_for, people, in_conflict):
    grant, milestone = in_conflict
    owner = browser_for(people[Role.OWNER])
    page = text(owner.get(f"/grants/{grant.pk}/"))
    assert 'data-action="resolve_conflict"' in page and "Accept the escrow contract&#x27;s approval" in page

    refused = owner.post(f"/milestones/{milestone.pk}/action/", {"action": "resolve_conflict"})
    assert refused.status_code == 400 and "a reason is required" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.CONFLICT

    posted = owner.post(
        f"/milestones/{milestone.pk}/action/",
        {"action": "resolve_conflict", "note": "The funder's Safe approved the March report; hash checked"},
    )
    page = followed(owner, posted)
    assert "The chain&#x27;s approval of “Tranche 1” is accepted: it is released." in page
    assert "1200.50 USD withdrawn on chain is recorded as disbursed." in page
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.RELEASED and milestone.released_at is not None
    assert milestone.status_reason == "The funder's Safe approved the March report; hash checked"
    event = AuditEvent.objects.filter(object_id=str(milestone.pk), action="milestone.status_changed").latest("seq")
    assert (event.before["status"], event.after["status"]) == ("conflict", "released")
    assert event.after["accepted_onchain_hash"] == CHAIN_HASH and event.after["govtrack_hash"] == OUR_HASH
    assert event.actor_repr == people[Role.OWNER].username
    # What the chain paid meanwhile is now on the books: one on-chain disbursement, the totals with it.
    paid = Disbursement.objects.get(milestone=milestone)
    assert (paid.kind, paid.amount) == (DisbursementKind.ONCHAIN, Decimal("1200.50"))
    grant.refresh_from_db()
    assert grant.amount_disbursed == milestone.amount_disbursed == Decimal("1200.50")


@pytest.mark.parametrize("role", [Role.FINANCE, Role.VIEWER, Role.ENGINEER])
def test_only_the_owner_may_resolve_a_conflict(browser_for, people, in_conflict, role):
    grant, milestone = in_conflict
    client = browser_for(people[role])
    assert 'data-action="resolve_conflict"' not in text(client.get(f"/grants/{grant.pk}/"))
    refused = client.post(f"/milestones/{milestone.pk}/action/", {"action": "resolve_conflict", "note": "Fine"})
    assert refused.status_code == 403 and f"Your role in Acme Compute is {role}" in text(refused)
    assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.CONFLICT
    assert not Disbursement.objects.exists()


def test_resolve_conflict_through_the_api_needs_the_chains_approval(client_for, people, org, in_conflict):
    _, milestone = in_conflict
    owner = client_for(people[Role.OWNER])
    EscrowMilestone.objects.filter(milestone=milestone).update(onchain_status=OnchainMilestoneStatus.PENDING)
    refused = owner.post(f"/api/milestones/{milestone.pk}/resolve-conflict/", {"reason": "Fine"}, format="json")
    assert refused.status_code == 409 and "not approved on chain" in refused.json()["message"]

    EscrowMilestone.objects.filter(milestone=milestone).update(onchain_status=OnchainMilestoneStatus.APPROVED)
    missing = owner.post(f"/api/milestones/{milestone.pk}/resolve-conflict/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["extra"]["fields"]
    answer = owner.post(f"/api/milestones/{milestone.pk}/resolve-conflict/", {"reason": "Checked"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "released" and answer.json()["amount_disbursed"] == "1200.50"
