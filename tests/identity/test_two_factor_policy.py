"""An owner can make two-factor mandatory; members without it set it up before any page or session write."""

import pyotp
import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.identity.services import two_factor_policy_set
from apps.tenancy.models import Membership, Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.identity.helpers import enrolled_user, next_code, shown_secret, sign_in

pytestmark = pytest.mark.django_db


def policy_url(organization) -> str:
    return f"/api/organizations/{organization.pk}/two-factor-policy/"


@pytest.fixture
def acme():
    organization = OrganizationFactory(name="Acme")
    owner, secret, _codes = enrolled_user("olivia")
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    return organization, owner, secret


def test_owner_turns_it_on_and_the_change_is_audited(acme, client_for):
    organization, owner, _secret = acme
    assert client_for(owner).get(policy_url(organization)).json()["required"] is False
    response = client_for(owner).patch(policy_url(organization), {"required": True}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["required"] is True and response.json()["changed_by"] == "olivia"
    event = AuditEvent.objects.get(action="organization.two_factor_policy_changed")
    assert event.chain == str(organization.pk)
    assert (event.before, event.after) == ({"two_factor_required": False}, {"two_factor_required": True})


def test_owner_without_two_factor_cannot_require_it(client_for):
    organization = OrganizationFactory(name="Beta")
    owner = UserFactory(username="bea")
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    response = client_for(owner).patch(policy_url(organization), {"required": True}, format="json")
    assert response.status_code == 400
    assert "Turn on two-factor sign-in for your own account first" in response.json()["extra"]["fields"]["required"][0]


def test_only_an_owner_changes_it_and_other_organizations_are_not_found(acme, client_for):
    organization, _owner, _secret = acme
    finance, _s, _c = enrolled_user("fin")
    MembershipFactory(organization=organization, user=finance, role=Role.FINANCE)
    response = client_for(finance).patch(policy_url(organization), {"required": True}, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == (
        "To require two-factor sign-in for members you need one of the roles: owner. Your role in Acme is finance."
    )
    outsider, _s, _c = enrolled_user("eve")
    assert client_for(outsider).patch(policy_url(organization), {"required": True}, format="json").status_code == 404
    assert not AuditEvent.objects.filter(action="organization.two_factor_policy_changed").exists()


@pytest.fixture
def required(acme):
    organization, owner, _secret = acme
    two_factor_policy_set(organization=organization, required=True, by=owner)
    member = UserFactory(username="max")
    MembershipFactory(organization=organization, user=member, role=Role.FINANCE)
    return organization, member


def test_member_without_two_factor_is_sent_to_set_it_up_from_every_page(required):
    _organization, _member = required
    client = Client()
    response = sign_in(client, "max", next_url="/grants/")
    assert response.status_code == 302  # the password signs in
    response = client.get("/grants/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/?next=/grants/"
    page = client.get(response["Location"]).content.decode()
    assert "Acme requires two-factor sign-in" in page
    htmx = client.get("/grants/", HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == "/accounts/two-factor/"


def test_member_session_cannot_write_through_the_api_but_tokens_can(required, token_client_for):
    _organization, member = required
    own = OrganizationFactory(name="Max Labs")
    MembershipFactory(organization=own, user=member, role=Role.OWNER)
    session = Client()
    session.force_login(member)
    body = {"organization": str(own.pk), "username": "someone", "role": "viewer"}
    response = session.post("/api/invitations/", body, content_type="application/json")
    assert response.status_code == 403
    assert "Acme requires two-factor sign-in" in response.json()["message"]
    assert response.json()["extra"]["two_factor_setup"] == "/accounts/two-factor/"
    assert session.get("/api/me/").status_code == 200  # reads go on
    # Nor can the session make itself a token to get around the rule.
    assert session.post("/api/tokens/", {"name": "way round"}, content_type="application/json").status_code == 403

    # An API token is not a browser session: the policy does not reach it.
    assert token_client_for(member).post("/api/invitations/", body, format="json").status_code == 201
    # A made-up Authorization header does not turn the session into a token request.
    response = session.post("/api/invitations/", body, content_type="application/json", HTTP_AUTHORIZATION="Basic x")
    assert response.status_code == 403


def test_setting_it_up_lets_the_member_in(required):
    _organization, member = required
    client = Client()
    client.force_login(member)
    secret = shown_secret(client.get("/accounts/two-factor/?next=/grants/").content.decode())
    page = client.post("/accounts/two-factor/", {"code": pyotp.TOTP(secret).now(), "next": "/grants/"})
    assert 'href="/grants/"' in page.content.decode()
    assert client.get("/grants/").status_code == 200
    # Next time the code is asked for after the password.
    fresh = Client()
    assert sign_in(fresh, "max")["Location"] == "/accounts/two-factor/verify/"
    assert fresh.post("/accounts/two-factor/verify/", {"code": next_code(secret)}).status_code == 302
    assert fresh.get("/grants/").status_code == 200
    assert Membership.objects.filter(user=member).count() == 1


def test_owner_switches_it_on_the_account_security_page(acme):
    organization, owner, _secret = acme
    client = Client()
    client.force_login(owner)
    page = client.get("/accounts/two-factor/").content.decode()
    assert "Acme: two-factor optional" in page
    response = client.post(f"/accounts/two-factor/policy/{organization.pk}/", {"required": "on"}, follow=True)
    assert "Members of Acme must now use two-factor sign-in." in response.content.decode()
    assert "Acme: <strong>two-factor required</strong>" in response.content.decode()
    assert AuditEvent.objects.filter(action="organization.two_factor_policy_changed").count() == 1

    finance, _s, _c = enrolled_user("fin")
    MembershipFactory(organization=organization, user=finance, role=Role.FINANCE)
    other = Client()
    other.force_login(finance)
    assert "Your organizations" not in other.get("/accounts/two-factor/").content.decode()
    response = other.post(f"/accounts/two-factor/policy/{organization.pk}/", {}, follow=True)
    assert "you need one of the roles: owner" in response.content.decode()
    assert AuditEvent.objects.filter(action="organization.two_factor_policy_changed").count() == 1


def test_another_organizations_switch_is_not_found(acme):
    organization, _owner, _secret = acme
    outsider, _s, _c = enrolled_user("eve")
    client = Client()
    client.force_login(outsider)
    assert client.post(f"/accounts/two-factor/policy/{organization.pk}/", {"required": "on"}).status_code == 404
