"""A machine declared wrongly fails when govtrack starts, not at the first click on its button."""

import pytest

from apps.core.transitions import Machine, Transition
from apps.risks.models import Risk


def step(name="close", **fields):
    return Transition(
        name=name, source=("open",), target="closed", permission=None, verb="close", label="Close", **fields
    )


def test_a_transition_says_whether_a_reason_is_none_optional_or_required():
    assert [step(reason=kind).reason for kind in ("none", "optional", "required")] == ["none", "optional", "required"]
    assert step().reason == "optional"
    with pytest.raises(ValueError, match="close: reason must be none, optional or required"):
        step(reason="sometimes")


def test_two_transitions_of_one_machine_cannot_share_a_name():
    with pytest.raises(ValueError, match="Risk: two transitions share a name"):
        Machine(model=Risk, transitions=[step(), step()], audit_action="risk.status_changed")


def test_permission_questions_are_asked_about_the_organization_or_the_object():
    for where in ("organization", "object"):
        machine = Machine(model=Risk, transitions=[step()], audit_action="risk.status_changed", permission_on=where)
        assert machine.permission_on == where and machine["close"].target == "closed"
    with pytest.raises(ValueError, match="Risk: permission_on must be organization or object"):
        Machine(model=Risk, transitions=[step()], audit_action="risk.status_changed", permission_on="register")


@pytest.mark.django_db
def test_allowed_actions_are_those_this_user_may_take_on_this_object_now(org, people):
    from apps.funding.machines import GRANTS
    from tests.funding.factories import GrantFactory

    grant = GrantFactory(organization=org, status="submitted")
    assert GRANTS.allowed_actions(grant, people["finance"]) == ["start_review", "reject"]
    assert GRANTS.allowed_actions(grant, people["viewer"]) == []
    offered = GRANTS.actions_for(grant, people["viewer"])
    assert [(a.name, a.allowed) for a in offered] == [("start_review", False), ("reject", False)]
    grant.status = "closed"
    assert GRANTS.allowed_actions(grant, people["owner"]) == []


@pytest.mark.django_db
def test_a_step_that_needs_a_reason_is_refused_without_one_and_changes_nothing(org, people):
    from apps.core.errors import ValidationFailed
    from apps.funding.machines import GRANTS
    from tests.funding.factories import GrantFactory

    grant = GrantFactory(organization=org, status="submitted")
    with pytest.raises(ValidationFailed) as refused:
        GRANTS.run(grant, "reject", by=people["finance"], reason="   ")
    assert refused.value.message == "Say why: a reason is required for this step."
    assert refused.value.extra == {"fields": {"reason": ["Say why: a reason is required for this step."]}}
    with pytest.raises(ValidationFailed) as too_long:
        GRANTS.run(grant, "reject", by=people["finance"], reason="x" * 2001)
    assert too_long.value.extra == {"fields": {"reason": ["At most 2000 characters."]}}
    grant.refresh_from_db()
    assert grant.status == "submitted"
    moved = GRANTS.run(grant, "start_review", by=people["finance"])
    assert (moved.status, moved.status_reason) == ("under_review", "")
    rejected = GRANTS.run(moved, "reject", by=people["finance"], reason="y" * 2000)
    assert (rejected.status, len(rejected.status_reason)) == ("rejected", 2000)


@pytest.mark.django_db
def test_the_buttons_ask_the_guards_about_this_user(org, people):
    from apps.funding.machines import MILESTONES
    from tests.funding.factories import GrantFactory, MilestoneFactory

    milestone = MilestoneFactory(
        grant=GrantFactory(organization=org), status="submitted", submitted_by=people["finance"]
    )
    verify = {a.name: a for a in MILESTONES.actions_for(milestone, people["finance"])}["verify"]
    assert not verify.allowed and "another person must verify it" in verify.reason
    assert "verify" in MILESTONES.allowed_actions(milestone, people["owner"])
