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


def test_a_users_roles_are_read_once_and_forgotten_when_their_memberships_change(settings, django_assert_num_queries):
    settings.ORGANIZATION_CREATE = "anyone"
    first, second = OrganizationFactory(name="Acme Compute"), OrganizationFactory(name="Beta Labs")
    user = member(first, Role.ENGINEER)
    with django_assert_num_queries(1):  # one query answers every question of a request, whatever the organization
        assert permissions.role_of(user, first) == Role.ENGINEER
        assert permissions.role_of(user, second) is None
        assert permissions.can_manage_members(user, first)[0] is False
    made = services.organization_create(name="Gamma Edge", created_by=user)
    assert permissions.role_of(user, made) == Role.OWNER, "the creator is its owner at once, in the same request"
    assert permissions.can_manage_members(user, made) == (True, "")


def test_a_refusal_lists_every_role_that_may_and_names_the_users_own():
    org = OrganizationFactory(name="Acme Compute")
    finance = member(org, Role.FINANCE)
    assert permissions.can_verify_audit_chain(finance, org) == (
        False,
        "To verify the audit trail you need one of the roles: compliance, owner. Your role in Acme Compute is finance.",
    )
    assert permissions.can_verify_audit_chain(member(org, Role.COMPLIANCE), org) == (True, "")


@pytest.mark.parametrize(
    ("setting", "staff", "allowed"), [("anyone", False, True), ("staff", False, False), ("staff", True, True)]
)
def test_who_may_create_an_organization_follows_the_setting(settings, setting, staff, allowed):
    settings.ORGANIZATION_CREATE = setting
    user = UserFactory(is_staff=staff)
    decision = permissions.can_create_organization(user)
    assert decision[0] is allowed
    if not allowed:
        assert decision[1] == (
            "Only platform staff create organizations here; ask your operator to create one and invite you."
        )
