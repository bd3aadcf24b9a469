"""Risks run on the transition engine: each action, each role, the wrong state, the API's `allowed_actions`, and
the engineer who owns a risk (who may start treating it but not decide it)."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.risks.machines import RISKS
from apps.risks.models import Risk
from apps.tenancy.models import Role
from tests.transition_table import Row, check_row, table_covers_machine

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
MANAGERS = frozenset({Role.OWNER, Role.COMPLIANCE})
ACCEPT = {"reason": "Cheaper to carry than to fix", "expires_on": str(TODAY + dt.timedelta(days=60))}

RISK_TABLE = [
    Row("start_treatment", "open", "treating", MANAGERS, wrong_state="closed"),
    Row("accept", "treating", "accepted", MANAGERS, wrong_state="accepted", body=ACCEPT),
    Row("close", "accepted", "closed", MANAGERS, wrong_state="closed", body={"reason": "Provider replaced"}),
    Row("reopen", "closed", "open", MANAGERS, wrong_state="treating"),
]


@pytest.fixture
def risk_in(make_risk, officer):
    def make(state: str) -> Risk:
        risk = make_risk()
        extra = {}
        if state == "accepted":
            extra = {"accepted_by": officer, "acceptance_reason": "Cheap", "acceptance_expires_on": TODAY}
        Risk.objects.filter(pk=risk.pk).update(status=state, **extra)
        return Risk.objects.get(pk=risk.pk)

    return make


def test_the_table_covers_every_action_a_person_takes():
    table_covers_machine(RISK_TABLE, RISKS)


@pytest.mark.parametrize("row", RISK_TABLE, ids=lambda row: row.name)
def test_each_risk_action_by_each_role_and_from_a_wrong_state(row, people, client_for, risk_in):
    check_row(
        row,
        machine=RISKS,
        people=people,
        client_for=client_for,
        make_in=risk_in,
        url="/api/risks/",
        organization="Acme Compute",
    )


def test_the_engineer_who_owns_a_risk_starts_treating_it_but_does_not_decide_it(client_for, risk_in, engineer):
    client = client_for(engineer)
    risk = risk_in("open")
    detail = client.get(f"/api/risks/{risk.pk}/").json()
    assert [(a["action"], a["allowed"]) for a in detail["allowed_actions"]] == [
        ("start_treatment", True),
        ("accept", False),
        ("close", False),
    ]
    assert detail["allowed_actions"][1]["reason"] == (
        "To accept, close or reopen a risk you need one of the roles: compliance, owner. "
        "Your role in Acme Compute is engineer."
    )
    assert client.post(f"/api/risks/{risk.pk}/start-treatment/").json()["status"] == "treating"
    refused = client.post(f"/api/risks/{risk.pk}/close/")
    assert refused.status_code == 403 and refused.json()["message"].endswith("Your role in Acme Compute is engineer.")


def test_closing_an_accepted_risk_keeps_who_accepted_it_and_reopening_clears_it(client_for, risk_in, officer):
    risk = risk_in("treating")
    client = client_for(officer)
    accepted = client.post(f"/api/risks/{risk.pk}/accept/", ACCEPT, format="json").json()
    assert accepted["accepted_by"] == "cora" and accepted["acceptance_reason"] == ACCEPT["reason"]
    closed = client.post(f"/api/risks/{risk.pk}/close/", {"reason": "Provider replaced"}).json()
    assert closed["status"] == "closed" and closed["accepted_by"] == "cora"
    event = AuditEvent.objects.filter(object_id=str(risk.pk)).latest("seq")
    assert event.action == "risk.status_changed" and event.after == {"status": "closed", "reason": "Provider replaced"}
    reopened = client.post(f"/api/risks/{risk.pk}/reopen/").json()
    assert (
        reopened["status"] == "open" and reopened["accepted_by"] is None and reopened["acceptance_expires_on"] is None
    )
    assert [a["action"] for a in reopened["allowed_actions"]] == ["start_treatment", "accept", "close"]
