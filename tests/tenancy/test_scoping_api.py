import uuid

import pytest

from apps.tenancy.models import Membership, Role
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_orgs():
    mine, theirs = OrganizationFactory(name="Mine"), OrganizationFactory(name="Theirs")
    return mine, theirs, member(mine, Role.OWNER), member(theirs, Role.OWNER)


def test_list_shows_only_my_organizations(two_orgs, client_for):
    _mine, _theirs, me, _they = two_orgs
    response = client_for(me).get("/api/organizations/")
    assert response.status_code == 200
    assert [org["name"] for org in response.json()["results"]] == ["Mine"]


def test_another_organizations_object_is_404_not_403(two_orgs, client_for):
    _mine, theirs, me, they = two_orgs
    client = client_for(me)
    assert client.get(f"/api/organizations/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/organizations/{theirs.pk}/members/").status_code == 404
    their_membership = Membership.objects.get(user=they)
    response = client.patch(f"/api/memberships/{their_membership.pk}/", {"role": "viewer"})
    assert response.status_code == 404
    assert response.json() == {"message": "Membership not found.", "extra": {}}
    their_membership.refresh_from_db()
    assert their_membership.role == Role.OWNER


def test_unknown_and_malformed_ids_are_404(two_orgs, client_for):
    client = client_for(two_orgs[2])
    assert client.get(f"/api/organizations/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/organizations/not-a-uuid/").status_code == 404


def test_members_are_no_longer_added_directly(two_orgs, client_for):
    """Membership needs the invitee's consent: the old add-by-username path is gone (see test_invitations)."""
    mine, _theirs, me, _they = two_orgs
    newcomer = member(OrganizationFactory(), Role.VIEWER, username="grant-officer")
    response = client_for(me).post(
        f"/api/organizations/{mine.pk}/members/", {"username": "grant-officer", "role": "owner"}
    )
    assert response.status_code == 405
    assert not Membership.objects.filter(user=newcomer, organization=mine).exists()


def test_audit_events_are_scoped_and_hidden_from_viewers(two_orgs, client_for):
    from apps.tenancy.services import organization_create

    _mine, _theirs, me, they = two_orgs
    organization_create(name="Fresh Org", created_by=they)
    response = client_for(me).get("/api/audit-events/")
    assert response.status_code == 200 and response.json()["results"] == []
    assert [e["action"] for e in client_for(they).get("/api/audit-events/").json()["results"]] == [
        "organization.created"
    ]
    viewer = member(Membership.objects.get(user=they, organization__name="Fresh Org").organization, Role.VIEWER)
    assert client_for(viewer).get("/api/audit-events/").json()["results"] == []


def test_get_scoped_finds_my_row_and_nothing_of_anyone_else(two_orgs):
    """The selector every detail view uses: my organization's row is found; another's, an unknown and a malformed
    id are all the same NotFound, whose message names the model and nothing else."""
    from apps.core.errors import NotFound
    from apps.tenancy.models import Organization
    from apps.tenancy.scoping import get_scoped

    mine, theirs, me, _they = two_orgs
    everything = Organization.objects.all()

    assert get_scoped(everything, user=me, org_field="pk", pk=mine.pk) == mine
    for wanted in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(NotFound) as refused:
            get_scoped(everything, user=me, org_field="pk", pk=wanted)
        assert refused.value.message == "Organization not found."


def test_nobody_signed_in_sees_no_organization(two_orgs):
    """An anonymous request (or none at all, in a task) is scoped to nothing rather than failing or seeing all."""
    from django.contrib.auth.models import AnonymousUser

    from apps.tenancy.models import Organization
    from apps.tenancy.scoping import scope_to_user

    for nobody in (AnonymousUser(), None):
        assert list(scope_to_user(Organization.objects.all(), user=nobody, org_field="pk")) == []
        assert list(scope_to_user(Membership.objects.all(), user=nobody)) == []


def test_roles_narrow_the_scope_to_where_the_user_holds_them(two_orgs):
    from apps.tenancy.models import Organization
    from apps.tenancy.scoping import scope_to_user

    mine, theirs, me, _they = two_orgs
    Membership.objects.create(user=me, organization=theirs, role=Role.VIEWER)
    everything = Organization.objects.all()

    assert set(scope_to_user(everything, user=me, org_field="pk")) == {mine, theirs}
    assert list(scope_to_user(everything, user=me, org_field="pk", roles=[Role.OWNER])) == [mine]
    assert list(scope_to_user(everything, user=me, org_field="pk", roles=[Role.VIEWER])) == [theirs]
