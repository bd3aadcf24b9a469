"""What a risk may hold: scores on the register's scale, its defaults, its reference, and each refusal's words."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.risks.models import MitigationStatus
from apps.risks.services.risks import (
    mitigation_create,
    mitigation_update,
    risk_act,
    risk_close,
    risk_review,
    risk_update,
    risks_remind,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
SCALE = "Must be a whole number from 1 to 5 on the register's 5x5 matrix 'Standard 5x5'."
SCORES = (
    "inherent_likelihood",
    "inherent_impact",
    "current_likelihood",
    "current_impact",
    "residual_likelihood",
    "residual_impact",
)


def refusal(call) -> dict:
    with pytest.raises(ValidationFailed) as info:
        call()
    return info.value.extra["fields"]


def test_each_score_is_a_whole_number_from_one_to_the_scale_and_the_refusal_names_it(make_risk, officer):
    low = make_risk(inherent_likelihood=1, inherent_impact=1, residual_likelihood=1, residual_impact=1)
    high = make_risk(inherent_likelihood=5, inherent_impact=5, residual_likelihood=5, residual_impact=5)
    assert (low.inherent_likelihood, high.inherent_impact) == (1, 5)
    for name in SCORES:
        for bad in (0, 6, True, "3", 3.0, None):
            assert refusal(lambda name=name, bad=bad: risk_update(risk=low, by=officer, **{name: bad})) == {
                name: [SCALE]
            }, (name, bad)
        assert risk_update(risk=low, by=officer, **{name: 5}).__dict__[name] == 5


def test_current_defaults_to_inherent_and_residual_to_current(make_risk):
    plain = make_risk(residual_likelihood=None, residual_impact=None)
    assert [getattr(plain, name) for name in SCORES] == [4, 4, 4, 4, 4, 4]
    rescored = make_risk(current_likelihood=3, current_impact=2, residual_likelihood=None, residual_impact=None)
    assert [getattr(rescored, name) for name in SCORES] == [4, 4, 3, 2, 3, 2]
    given = make_risk(current_likelihood=3, current_impact=2, residual_likelihood=1, residual_impact=1)
    assert [getattr(given, name) for name in SCORES] == [4, 4, 3, 2, 1, 1]


def test_a_risk_needs_a_title_a_register_category_a_treatment_and_a_sane_review_cadence(make_risk, officer):
    assert refusal(lambda: make_risk(title="   ")) == {"title": ["A risk needs a title."]}
    assert refusal(lambda: make_risk(category="weather")) == {
        "category": ["'weather' is not a category of this register: infrastructure, scaling, market, operational."]
    }
    assert refusal(lambda: make_risk(treatment="ignore")) == {
        "treatment": ["Choose one of: mitigate, accept, avoid, transfer."]
    }
    assert refusal(lambda: make_risk(review_cadence_days=3661)) == {
        "review_cadence_days": ["Review every 1 to 3660 days."]
    }
    for days in (1, 3660):
        risk = make_risk(review_cadence_days=days)
        assert (risk.review_cadence_days, risk.next_review_on) == (days, TODAY + dt.timedelta(days=days))
    assert make_risk().review_cadence_days == 90  # the register's cadence when none is given
    assert make_risk(review_cadence_days=0).review_cadence_days == 90
    risk = make_risk()
    for days in (0, None, 3661):
        assert refusal(lambda days=days: risk_update(risk=risk, by=officer, review_cadence_days=days)) == {
            "review_cadence_days": ["Review every 1 to 3660 days."]
        }


def test_the_owner_is_a_member_named_by_username(make_risk, outsider):
    assert refusal(lambda: make_risk(owner="  ")) == {"owner": ["Name a member of the organization (username)."]}
    assert refusal(lambda: make_risk(owner="outsider")) == {"owner": ["outsider is not a member of Acme Compute."]}
    assert make_risk(owner=" eddie ").owner.username == "eddie"


def test_references_count_up_skip_taken_ones_and_are_unique_per_register(make_risk):
    assert make_risk().ref == "R-001"
    assert make_risk(ref="R-003").ref == "R-003"
    assert make_risk().ref == "R-004"  # R-003 is taken: the next free one
    assert make_risk(ref=" ").ref == "R-005"
    assert refusal(lambda: make_risk(ref="R-001")) == {"ref": ["Register 'Platform' already has a risk R-001."]}


def test_an_update_names_a_field_it_cannot_change_and_a_closed_risk_is_reopened_first(make_risk, officer, engineer):
    risk = make_risk()
    assert refusal(lambda: risk_update(risk=risk, by=officer, status="closed", ref="X")) == {
        "ref": ["This field cannot be changed here."]
    }
    # An engineer may edit a risk they own but not hand it to someone else.
    with pytest.raises(PermissionDenied):
        risk_update(risk=risk, by=engineer, owner="cora")
    assert risk_update(risk=risk, by=engineer, owner="eddie").owner.username == "eddie"
    assert risk_update(risk=risk, by=officer, owner="cora").owner.username == "cora"

    risk_close(risk=risk, by=officer)
    with pytest.raises(Conflict) as closed:
        risk_update(risk=risk, by=officer, title="Renamed")
    assert closed.value.message == f"Risk {risk.ref} is closed: reopen it to change it."
    with pytest.raises(Conflict) as closed_review:
        risk_review(risk=risk, by=officer)
    assert closed_review.value.message == f"Risk {risk.ref} is closed: reopen it to review it."


def test_a_new_review_cadence_counts_from_the_last_review(make_risk, officer):
    risk = make_risk()
    updated = risk_update(risk=risk, by=officer, review_cadence_days=30)
    assert updated.next_review_on == TODAY + dt.timedelta(days=30)  # never reviewed: from today
    review = risk_review(risk=risk, by=officer, notes="ok", current_likelihood=2)
    assert review.next_review_on == TODAY + dt.timedelta(days=30)
    back = timezone.now() - dt.timedelta(days=10)
    type(risk).objects.filter(pk=risk.pk).update(last_reviewed_at=back)
    updated = risk_update(risk=risk, by=officer, review_cadence_days=7)
    assert updated.next_review_on == back.date() + dt.timedelta(days=7)
    kept = risk_update(risk=risk, by=officer, review_cadence_days=14, next_review_on=TODAY)
    assert kept.next_review_on == TODAY  # a date given with the cadence is kept
    assert refusal(lambda: risk_review(risk=risk, by=officer, current_impact=9)) == {"current_impact": [SCALE]}


def test_an_unknown_dashboard_action_is_refused_by_name(make_risk, officer):
    risk = make_risk()
    assert refusal(lambda: risk_act(risk=risk, by=officer, action="delete")) == {
        "action": ["'delete' is not an action a person takes on a risk."]
    }
    assert risk_act(risk=risk, by=officer, action="start_treatment").status == "treating"
    assert risk_act(risk=risk, by=officer, action="close", reason="done").status == "closed"
    assert risk_act(risk=risk, by=officer, action="reopen", reason="back").status == "open"
    accepted = risk_act(risk=risk, by=officer, action="accept", reason="cheap", expires_on=TODAY + dt.timedelta(30))
    assert (accepted.status, accepted.acceptance_reason) == ("accepted", "cheap")


def test_a_mitigation_is_described_and_done_once_it_is_done(make_risk, officer):
    risk = make_risk()
    assert refusal(lambda: mitigation_create(risk=risk, title=" ", owner="eddie", by=officer)) == {
        "title": ["Describe the mitigation."]
    }
    mitigation = mitigation_create(risk=risk, title="  Second region  ", owner="eddie", by=officer)
    assert (mitigation.title, mitigation.owner.username, mitigation.status) == ("Second region", "eddie", "planned")
    assert refusal(lambda: mitigation_update(mitigation=mitigation, by=officer, status="finished")) == {
        "status": ["Choose one of: planned, in_progress, done, cancelled."]
    }
    assert refusal(lambda: mitigation_update(mitigation=mitigation, by=officer, title="")) == {
        "title": ["Describe the mitigation."]
    }
    assert refusal(lambda: mitigation_update(mitigation=mitigation, by=officer, risk=None)) == {
        "risk": ["This field cannot be changed here."]
    }
    done = mitigation_update(mitigation=mitigation, by=officer, status=MitigationStatus.DONE)
    assert done.completed_at is not None
    reopened = mitigation_update(mitigation=mitigation, by=officer, status=MitigationStatus.IN_PROGRESS, owner="cora")
    assert (reopened.completed_at, reopened.owner.username) == (None, "cora")


def test_a_reminder_names_each_reason_once_a_day_to_owner_and_approver(make_risk, officer, engineer):
    engineer.email, officer.email = "eddie@acme.test", "cora@acme.test"
    engineer.save(update_fields=["email"])
    officer.save(update_fields=["email"])
    risk = make_risk()
    risk_act(risk=risk, by=officer, action="accept", reason="cheap", expires_on=TODAY + dt.timedelta(1))
    type(risk).objects.filter(pk=risk.pk).update(
        next_review_on=TODAY - dt.timedelta(days=2), acceptance_expires_on=TODAY - dt.timedelta(days=1)
    )
    mail.outbox.clear()
    assert risks_remind(today=TODAY) == 1
    (message,) = mail.outbox
    assert message.subject == f"[govtrack] Risk {risk.ref} needs attention"
    due, expired = TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)
    assert message.body == (
        f"Acme Compute: risk {risk.ref} 'GPU saturation' needs attention: its review was due on {due:%Y-%m-%d}; "
        f"its acceptance expired on {expired:%Y-%m-%d}."
    )
    assert message.to == ["cora@acme.test", "eddie@acme.test"]
    assert risks_remind(today=TODAY) == 0  # once a day
    assert risks_remind(today=TODAY + dt.timedelta(days=1)) == 1
    # Due today is not overdue; a review due today and an acceptance ending today send nothing.
    type(risk).objects.filter(pk=risk.pk).update(
        next_review_on=TODAY + dt.timedelta(days=5), acceptance_expires_on=TODAY + dt.timedelta(days=5)
    )
    assert risks_remind(today=TODAY + dt.timedelta(days=5)) == 0


def test_each_risk_step_is_audited_as_the_person_who_took_it(make_risk, officer, engineer):
    from apps.audit.models import AuditEvent

    risk = make_risk()
    risk_act(risk=risk, by=engineer, action="start_treatment")
    risk_act(risk=risk, by=officer, action="close", reason="done")
    risk_act(risk=risk, by=officer, action="reopen", reason="back")
    events = AuditEvent.objects.filter(object_id=str(risk.pk), action="risk.status_changed").order_by("seq")
    assert [(e.actor_repr, e.after["status"]) for e in events] == [
        ("eddie", "treating"),
        ("cora", "closed"),
        ("cora", "open"),
    ]
    reviewed = risk_review(risk=risk, by=engineer, notes="rescored", current_likelihood=2, current_impact=3)
    risk.refresh_from_db()
    assert (risk.current_likelihood, risk.current_impact, reviewed.reviewed_by) == (2, 3, engineer)


def test_a_mitigation_names_its_owner_field_and_each_change_is_audited(make_risk, officer):
    from apps.audit.models import AuditEvent

    risk = make_risk()
    assert refusal(lambda: mitigation_create(risk=risk, title="Failover", owner="nobody", by=officer)) == {
        "owner": ["nobody is not a member of Acme Compute."]
    }
    mitigation = mitigation_create(risk=risk, title="Failover", owner="eddie", by=officer)
    assert refusal(lambda: mitigation_update(mitigation=mitigation, by=officer, owner="nobody")) == {
        "owner": ["nobody is not a member of Acme Compute."]
    }
    mitigation_update(mitigation=mitigation, by=officer, status=MitigationStatus.IN_PROGRESS)
    created, updated = AuditEvent.objects.filter(object_id=str(mitigation.pk)).order_by("seq")
    assert (created.action, created.actor_repr, created.organization_id) == (
        "mitigation.created",
        "cora",
        risk.organization_id,
    )
    assert sorted(created.after) == ["due_date", "owner", "risk", "status", "title"]
    assert (created.after["title"], created.after["status"], created.after["due_date"]) == ("Failover", "planned", None)
    assert (updated.action, updated.actor_repr, updated.before, updated.after) == (
        "mitigation.updated",
        "cora",
        {"status": "planned"},
        {"status": "in_progress"},
    )


def test_an_expired_acceptance_of_a_closed_risk_reminds_no_one_and_a_reminder_is_audited(make_risk, officer):
    from apps.audit.models import AuditEvent

    closed = make_risk()
    risk_close(risk=closed, by=officer)
    type(closed).objects.filter(pk=closed.pk).update(
        next_review_on=TODAY - dt.timedelta(days=3), acceptance_expires_on=TODAY - dt.timedelta(days=1)
    )
    assert risks_remind(today=TODAY) == 0
    due = make_risk()
    type(due).objects.filter(pk=due.pk).update(next_review_on=TODAY - dt.timedelta(days=1))
    assert risks_remind(today=TODAY) == 1
    event = AuditEvent.objects.get(action="risk.reminder_sent")
    assert (event.object_id, event.organization_id, event.actor_repr) == (str(due.pk), due.organization_id, "system")
    assert event.after == {
        "to": [due.owner.email],
        "reasons": [f"its review was due on {TODAY - dt.timedelta(days=1):%Y-%m-%d}"],
    }
