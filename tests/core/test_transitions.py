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
    assert [a.reason_required for a in offered] == [False, True]  # the dashboard asks why before a rejection
    grant.status = "under_review"  # the award's guard reads the call's parameters: the buttons pass none
    assert GRANTS.allowed_actions(grant, people["finance"]) == ["award", "reject"]
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


# --- one machine declared here, run on real rows -------------------------------------------------------------
# The machines of apps/ are built when their modules are imported; these tests build their own, so what they
# check is the engine itself: the lock order, what is saved, what is audited, what the effects are told.


def _locked_tables(queries) -> list[str]:
    """The tables of the SELECT ... FOR UPDATE statements, in the order they were sent."""
    found = []
    for query in queries:
        sql = query["sql"]
        if sql.startswith("SELECT") and "FOR UPDATE" in sql:
            found.append(sql.split(" FROM ", 1)[1].split()[0].strip('"'))
    return found


def _milestone_machine(*, asked=None, told=None, **declared):
    from apps.funding.models import Grant, Milestone

    def permission(user, subject):
        if asked is not None:
            asked.append((user.username, subject))
        if user.username == "viewer-acme":
            return False, "To submit you need one of the roles: engineer."
        return True, ""

    def effects(obj, before, transition, by, reason):
        told.append((obj.status, before, transition.name, by.username if by else None, reason))

    transitions = declared.pop(
        "transitions",
        [
            Transition(
                "submit",
                ("planned", "in_progress"),
                "submitted",
                permission,
                "submit",
                "Submit for verification",
                stamp="submitted_at",
                confirm="Submit it now?",
            ),
            Transition("settle", ("submitted",), "released", None, "settle", "Settle", system=True),
            Transition("pause", ("in_progress",), "planned", None, "pause", "Pause", reason="required"),
        ],
    )
    return Machine(
        model=Milestone,
        transitions=transitions,
        audit_action="milestone.engine_test",
        lock_first=lambda milestone: [(Grant, None), (Grant, milestone.grant_id)],
        effects=effects if told is not None else None,
        **declared,
    )


@pytest.mark.django_db
def test_a_step_locks_the_parent_first_saves_state_reason_and_stamp_and_audits_the_change(org, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.audit.models import AuditEvent
    from tests.funding.factories import GrantFactory, MilestoneFactory

    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="planned")
    asked, told = [], []
    machine = _milestone_machine(asked=asked, told=told)
    started = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        moved = machine.run(milestone, "submit", by=people["engineer"], reason="  evidence attached  ")

    # Parent before child, the audit chain head last; a parent named without a row is not locked at all.
    assert _locked_tables(queries.captured_queries) == ["funding_grant", "funding_milestone", "audit_auditchainhead"]
    grant_lock = next(q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"])
    assert milestone.grant_id.hex in grant_lock.replace("-", "")  # the milestone's own grant row
    update = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE"))
    assert sorted(column.split('"')[1] for column in update.split(" SET ")[1].split(" WHERE ")[0].split(", ")) == [
        "status",
        "status_reason",
        "submitted_at",
        "updated_at",
    ]
    milestone.refresh_from_db()
    assert (milestone.status, milestone.status_reason) == ("submitted", "evidence attached")
    assert started <= milestone.submitted_at <= timezone.now()
    assert milestone.updated_at >= started
    assert moved.pk == milestone.pk and moved.status == "submitted"
    assert asked == [("engineer-acme", org)]  # asked about the organization, the default
    event = AuditEvent.objects.get(action="milestone.engine_test")
    assert (event.actor_id, event.organization_id) == (people["engineer"].pk, org.pk)
    assert event.object_id == str(milestone.pk)
    assert event.before == {"status": "planned"}
    assert event.after == {"status": "submitted", "reason": "evidence attached"}
    assert told == [("submitted", "planned", "submit", "engineer-acme", "evidence attached")]


@pytest.mark.django_db
def test_a_refused_or_wrong_state_step_says_why_and_changes_nothing(org, people):
    from apps.audit.models import AuditEvent
    from apps.core.errors import Conflict, PermissionDenied
    from tests.funding.factories import GrantFactory, MilestoneFactory

    milestone = MilestoneFactory(grant=GrantFactory(organization=org), title="Cluster live", status="planned")
    told = []
    machine = _milestone_machine(told=told)
    with pytest.raises(PermissionDenied) as refused:
        machine.run(milestone, "submit", by=people["viewer"])
    assert refused.value.message == "To submit you need one of the roles: engineer."

    milestone.status = "verified"
    milestone.save(update_fields=["status"])
    with pytest.raises(Conflict) as wrong_state:
        machine.run(milestone, "submit", by=people["engineer"])
    assert wrong_state.value.message == (
        "Cannot submit this milestone: it is verified, and must be planned or in progress."
    )
    named = _milestone_machine(subject=lambda m: f"milestone '{m.title}'")
    with pytest.raises(Conflict) as named_wrong_state:
        named.run(milestone, "submit", by=people["engineer"])
    assert named_wrong_state.value.message.startswith("Cannot submit milestone 'Cluster live': it is verified")

    milestone.refresh_from_db()
    assert (milestone.status, milestone.submitted_at) == ("verified", None)
    assert not AuditEvent.objects.filter(action="milestone.engine_test").exists() and told == []


@pytest.mark.django_db
def test_a_system_step_is_taken_by_govtrack_only_and_never_offered_as_a_button(org, people):
    from apps.audit.models import AuditEvent
    from apps.core.errors import PermissionDenied
    from tests.funding.factories import GrantFactory, MilestoneFactory

    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="submitted")
    machine = _milestone_machine()
    assert machine.actions_for(milestone, people["owner"]) == []
    with pytest.raises(PermissionDenied) as refused:
        machine.run(milestone, "settle", by=people["owner"])
    assert refused.value.message == "Only govtrack itself can settle a milestone."
    settled = machine.run(milestone, "settle", by=None)
    assert settled.status == "released"
    event = AuditEvent.objects.get(action="milestone.engine_test")
    assert (event.actor_id, event.actor_repr, event.after) == (None, "system", {"status": "released"})


@pytest.mark.django_db
def test_guards_and_record_see_the_actor_and_the_call_and_may_hold_the_state(org, people):
    from apps.audit.models import AuditEvent
    from apps.core.errors import ValidationFailed
    from apps.core.transitions import change_fields
    from tests.funding.factories import GrantFactory, MilestoneFactory

    seen = []

    def not_the_owner(obj, by, params):
        seen.append((obj.status, by.username if by else None, dict(params)))
        if by is not None and by.username == "owner-acme":
            raise ValidationFailed("The owner may not submit this.")

    def record(obj, by, params):
        change_fields(params, obj, {"title": params["title"]})
        return obj.status if params["title"] == "hold" else None

    machine = _milestone_machine(
        transitions=[
            Transition(
                "submit", ("planned",), "submitted", None, "submit", "Submit", guards=(not_the_owner,), record=record
            )
        ],
    )
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), title="Before", status="planned")
    with pytest.raises(ValidationFailed):
        machine.run(milestone, "submit", by=people["owner"], title="After")
    assert seen == [("planned", "owner-acme", {"reason": "", "title": "After"})]

    held = machine.run(milestone, "submit", by=people["engineer"], title="hold")
    assert held.status == "planned"
    assert not AuditEvent.objects.filter(action="milestone.engine_test").exists()

    # The buttons ask the same guard, with no parameters yet.
    fresh = MilestoneFactory(grant=milestone.grant, status="planned")
    assert [(a.allowed, a.reason) for a in machine.actions_for(fresh, people["owner"])] == [
        (False, "The owner may not submit this.")
    ]
    assert [(a.allowed, a.reason) for a in machine.actions_for(fresh, people["engineer"])] == [(True, "")]
    assert seen[-1] == ("planned", "engineer-acme", {})

    machine.run(milestone, "submit", by=people["engineer"], title="After")
    milestone.refresh_from_db()
    assert (milestone.status, milestone.title) == ("submitted", "After")
    event = AuditEvent.objects.get(action="milestone.engine_test")
    assert event.before == {"status": "planned", "title": "Before"}
    assert event.after == {"status": "submitted", "title": "After"}


@pytest.mark.django_db
def test_a_machine_without_a_reason_field_audits_the_reason_only(org, people):
    from apps.audit.models import AuditEvent
    from tests.factories import OrganizationFactory
    from tests.funding.factories import GrantFactory, MilestoneFactory

    # The row's own organization column says another one: the machine's organization_of is what counts.
    milestone = MilestoneFactory(
        grant=GrantFactory(organization=org), organization=OrganizationFactory(), status="planned", status_reason="kept"
    )
    machine = _milestone_machine(reason_field=None, organization_of=lambda m: m.grant.organization)
    machine.run(milestone, "submit", by=people["engineer"], reason="why")
    milestone.refresh_from_db()
    assert (milestone.status, milestone.status_reason) == ("submitted", "kept")
    event = AuditEvent.objects.get(action="milestone.engine_test")
    assert (event.organization_id, event.after) == (org.pk, {"status": "submitted", "reason": "why"})


@pytest.mark.django_db
def test_the_buttons_list_each_action_with_its_label_confirmation_and_refusal(org, people):
    from tests.funding.factories import GrantFactory, MilestoneFactory

    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")
    asked = []
    machine = _milestone_machine(asked=asked, permission_on="object")
    offered, pause = machine.actions_for(milestone, people["engineer"])
    assert (offered.name, offered.label, offered.allowed, offered.reason) == (
        "submit",
        "Submit for verification",
        True,
        "",
    )
    assert (offered.confirm, offered.reason_required) == ("Submit it now?", False)
    assert (pause.name, pause.allowed, pause.reason, pause.confirm, pause.reason_required) == (
        "pause",
        True,
        "",
        "",
        True,
    )
    assert asked == [("engineer-acme", milestone)]  # permission_on="object": asked about the row
    refused, _pause = machine.actions_for(milestone, people["viewer"])
    assert refused.as_dict() == {
        "action": "submit",
        "label": "Submit for verification",
        "allowed": False,
        "reason": "To submit you need one of the roles: engineer.",
    }
    # The dashboard leaves out what the role never allows and keeps the rest.
    asked.clear()
    assert [a.name for a in machine.actions_for(milestone, people["viewer"], role_refusals=False)] == ["pause"]
    assert asked == [("viewer-acme", milestone)]
    assert [a.name for a in machine.actions_for(milestone, people["viewer"], include_refused=False)] == ["pause"]
    assert machine.allowed_actions(milestone, people["viewer"]) == ["pause"]
    assert machine.allowed_actions(milestone, people["engineer"]) == ["submit", "pause"]
    assert machine.states_for("submit") == ("planned", "in_progress")
