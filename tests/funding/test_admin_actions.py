"""The admin's transitions are actions that call the funding services in the staff user's name: the service's
role check, state rules and audit event apply, and its refusal is what the admin shows."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.audit.models import AuditEvent
from apps.core.admin import error_text
from apps.core.errors import ApplicationError
from apps.funding.machines import MILESTONES
from apps.funding.models import Grant, Milestone
from apps.funding.services.grants import grant_reject
from apps.funding.services.milestones import milestone_mark_missed
from apps.tenancy.models import Membership, Role
from tests.factories import UserFactory
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform_admin(db):
    """Platform staff of no organization."""
    return UserFactory(username="platform-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def support_finance(org):
    """Platform staff who also hold the finance role in `org` (the role the services ask for)."""
    user = UserFactory(username="support-fin", is_staff=True, is_superuser=True)
    Membership.objects.create(organization=org, user=user, role=Role.FINANCE)
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run_action(client, model: str, action: str, rows, **extra):
    response = client.post(
        f"/admin/funding/{model}/",
        {"action": action, "_selected_action": [str(row.pk) for row in rows], "index": "0", **extra},
        follow=True,
    )
    assert response.status_code == 200
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_mark_missed_goes_through_the_service_and_is_audited(org, support_finance):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")
    listing = logged_in(support_finance).get("/admin/funding/milestone/")
    assert MILESTONES["mark_missed"].label in listing.content.decode()  # the label comes from the machine's table
    shown = run_action(
        logged_in(support_finance), "milestone", "mark_missed", [milestone], reason="Cluster never delivered"
    )
    assert shown == [("success", "1 milestone(s) marked as missed.")]
    milestone.refresh_from_db()
    assert milestone.status == "missed" and milestone.status_reason == "Cluster never delivered"
    event = AuditEvent.objects.get(object_id=str(milestone.pk), action="milestone.status_changed")
    assert event.actor_id == support_finance.pk and event.organization_id == org.pk
    assert event.before["status"] == "in_progress" and event.after["status"] == "missed"


def test_an_illegal_transition_shows_the_services_message_and_changes_nothing(org, support_finance):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="released")
    with pytest.raises(ApplicationError) as refused:
        milestone_mark_missed(milestone=milestone, by=support_finance, reason="late")
    shown = run_action(logged_in(support_finance), "milestone", "mark_missed", [milestone], reason="late")
    assert shown == [("error", f"{milestone}: {refused.value.message}")]
    assert Milestone.objects.get(pk=milestone.pk).status == "released"
    assert not AuditEvent.objects.filter(object_id=str(milestone.pk)).exists()


def test_platform_staff_without_the_role_are_refused_by_the_service(org, platform_admin):
    """Being staff gives no role in a tenant: the admin cannot do what the dashboard would refuse."""
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")
    shown = run_action(logged_in(platform_admin), "milestone", "mark_missed", [milestone], reason="late")
    assert shown == [("error", f"{milestone}: You are not a member of Acme Compute.")]
    assert Milestone.objects.get(pk=milestone.pk).status == "in_progress"


def test_grant_reject_needs_the_services_reason_then_rejects(org, support_finance):
    grant = GrantFactory(organization=org, status="under_review")
    client = logged_in(support_finance)
    with pytest.raises(ApplicationError) as refused:
        grant_reject(grant=grant, by=support_finance, reason="")
    shown = run_action(client, "grant", "reject", [grant], reason="")
    assert shown == [("error", f"{grant}: {error_text(refused.value)}")]
    assert error_text(refused.value).startswith("reason: ")
    assert Grant.objects.get(pk=grant.pk).status == "under_review"

    shown = run_action(client, "grant", "reject", [grant], reason="Outside the programme's scope")
    assert shown == [("success", "1 grant(s) rejected.")]
    grant.refresh_from_db()
    assert grant.status == "rejected" and grant.status_reason == "Outside the programme's scope"
    assert AuditEvent.objects.filter(object_id=str(grant.pk), action="grant.status_changed").count() == 1


def test_begin_closing_reports_each_row_on_its_own(org, support_finance):
    active, draft = GrantFactory(organization=org), GrantFactory(organization=org, status="draft")
    shown = run_action(logged_in(support_finance), "grant", "begin_closing", [active, draft])
    levels = sorted(level for level, _ in shown)
    assert levels == ["error", "success"]
    assert Grant.objects.get(pk=active.pk).status == "closing"
    assert Grant.objects.get(pk=draft.pk).status == "draft"
