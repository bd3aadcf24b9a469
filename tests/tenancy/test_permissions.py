import pytest

from apps.core.errors import Conflict, PermissionDenied
from apps.tenancy import permissions, services
from apps.tenancy.models import Membership, Role
from tests.factories import OrganizationFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def test_owner_may_manage_members_and_others_are_told_which_role_is_needed():
    org = OrganizationFactory(name="Acme Compute")
    owner, finance = member(org, Role.OWNER), member(org, Role.FINANCE)

    assert permissions.can_manage_members(owner, org) == (True, "")
    allowed, reason = permissions.can_manage_members(finance, org)
    assert not allowed
    assert reason == ("To manage members you need one of the roles: owner. Your role in Acme Compute is finance.")


def test_outsider_is_told_they_are_not_a_member():
    org = OrganizationFactory(name="Acme Compute")
    allowed, reason = permissions.can_view_organization(UserFactory(), org)
    assert not allowed
    assert reason == "You are not a member of Acme Compute."


@pytest.mark.parametrize("role", [Role.FINANCE, Role.COMPLIANCE, Role.ENGINEER, Role.VIEWER])
def test_only_owner_adds_members_and_the_refusal_changes_nothing(role):
    org = OrganizationFactory()
    actor = member(org, role)
    newcomer = UserFactory()
    with pytest.raises(PermissionDenied) as refused:
        services.membership_add(organization=org, user=newcomer, role=Role.VIEWER, by=actor)
    assert "owner" in refused.value.message
    assert not Membership.objects.filter(user=newcomer).exists()


def test_viewer_role_for_an_investor_reads_but_cannot_verify_audit_chain():
    org = OrganizationFactory()
    investor = member(org, Role.VIEWER)
    assert permissions.can_view_organization(investor, org)[0]
    allowed, reason = permissions.can_verify_audit_chain(investor, org)
    assert not allowed and "compliance" in reason


def test_last_owner_cannot_be_demoted():
    org = OrganizationFactory()
    owner = member(org, Role.OWNER)
    membership = Membership.objects.get(user=owner, organization=org)
    with pytest.raises(Conflict, match="at least one owner"):
        services.membership_change_role(membership=membership, role=Role.VIEWER, by=owner)
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_role_change_is_audited_with_before_and_after():
    from apps.audit.models import AuditEvent

    org = OrganizationFactory()
    owner = member(org, Role.OWNER)
    engineer = member(org, Role.ENGINEER)
    membership = Membership.objects.get(user=engineer)
    services.membership_change_role(membership=membership, role=Role.FINANCE, by=owner)
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.before == {"role": "engineer"} and event.after == {"role": "finance"}
    assert event.actor_id == owner.pk and event.organization_id == org.pk
