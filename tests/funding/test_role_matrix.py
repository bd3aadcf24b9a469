"""Every role against every action of the grant, investment and milestone machines, through the API.

The expected roles are written here, not read from the project's tables, so a wrong role in a permission
question or a transition fails this test: allowed → 2xx and the state moves; refused → 403 naming the role.
"""

from decimal import Decimal

import pytest

from apps.funding.machines import GRANTS, INVESTMENTS, MILESTONES
from apps.funding.models import Grant, Investment, Milestone
from apps.tenancy.models import Role
from tests.funding.factories import GrantFactory, InvestmentFactory, MilestoneFactory

pytestmark = pytest.mark.django_db

MANAGERS = {Role.OWNER, Role.FINANCE}
WORKERS = {Role.OWNER, Role.FINANCE, Role.ENGINEER}

# machine, action → (roles allowed, body, status before, status after)
EXPECTED = {
    ("grant", "submit"): (MANAGERS, {}, "draft", "submitted"),
    ("grant", "start_review"): (MANAGERS, {}, "submitted", "under_review"),
    ("grant", "award"): (MANAGERS, {"amount_awarded": "90000"}, "under_review", "awarded"),
    ("grant", "reject"): (MANAGERS, {"reason": "Out of scope"}, "submitted", "rejected"),
    ("grant", "activate"): (MANAGERS, {}, "awarded", "active"),
    ("grant", "begin_closing"): (MANAGERS, {}, "active", "closing"),
    ("grant", "close"): (MANAGERS, {}, "closing", "closed"),
    ("investment", "commit"): (MANAGERS, {}, "proposed", "committed"),
    ("investment", "activate"): (MANAGERS, {}, "committed", "active"),
    ("investment", "close"): (MANAGERS, {}, "active", "closed"),
    ("investment", "withdraw"): (MANAGERS, {"reason": "Terms changed"}, "proposed", "withdrawn"),
    ("milestone", "start"): (WORKERS, {}, "planned", "in_progress"),
    ("milestone", "submit"): (WORKERS, {}, "in_progress", "submitted"),
    ("milestone", "return_for_changes"): (MANAGERS, {"reason": "More logs"}, "submitted", "in_progress"),
    ("milestone", "verify"): (MANAGERS, {}, "submitted", "verified"),
    ("milestone", "approve_release"): (MANAGERS, {}, "verified", "released"),
    ("milestone", "dispute"): ({Role.OWNER, Role.VIEWER}, {"reason": "Only 5 days"}, "verified", "disputed"),
    ("milestone", "resolve_dispute"): (MANAGERS, {"outcome": "resubmit"}, "disputed", "submitted"),
    ("milestone", "mark_missed"): (MANAGERS, {"reason": "Deadline passed"}, "planned", "missed"),
    ("milestone", "refund"): (MANAGERS, {"reason": "Returned to the funder"}, "missed", "refunded"),
    # Only for escrowed milestones (tests/escrow/test_stuck_states.py); here the role check comes first.
    ("milestone", "pay_outside_escrow"): (MANAGERS, {"reason": "Agreement failed"}, "verified", None),
    # Only for a milestone the contract approved (tests/dashboard/test_corrections.py); the role check comes first.
    ("milestone", "resolve_conflict"): ({Role.OWNER}, {"reason": "Hash checked by hand"}, "conflict", None),
}
MACHINES = {"grant": GRANTS, "investment": INVESTMENTS, "milestone": MILESTONES}


def test_the_table_covers_every_action_a_person_takes():
    declared = {(name, t.name) for name, machine in MACHINES.items() for t in machine.transitions if not t.system}
    assert declared == set(EXPECTED)


def make(kind: str, org, status: str):
    if kind == "grant":
        return GrantFactory(organization=org, status=status, amount_awarded=None, amount_requested=Decimal("100000"))
    if kind == "investment":
        return InvestmentFactory(organization=org, status=status)
    return MilestoneFactory(grant=GrantFactory(organization=org), status=status)


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize(("kind", "action"), sorted(EXPECTED))
def test_each_role_against_each_action(org, people, client_for, kind, action, role):
    roles, body, before, after = EXPECTED[(kind, action)]
    obj = make(kind, org, before)
    response = client_for(people[role]).post(f"/api/{kind}s/{obj.pk}/{action.replace('_', '-')}/", body, format="json")
    model = {"grant": Grant, "investment": Investment, "milestone": Milestone}[kind]
    status = model.objects.get(pk=obj.pk).status
    if role not in roles:
        assert response.status_code == 403, response.json()
        assert f"Your role in {org.name} is {role}" in response.json()["message"]
        assert status == before
    elif after is None:
        assert response.status_code == 409, response.json()  # a guard of its own refuses it here
    else:
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == after == status
