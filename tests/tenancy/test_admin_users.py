"""Platform accounts in the admin (audited, never deleted); memberships and tokens read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.audit.models import AuditEvent
from apps.tenancy.models import ApiToken, Membership, Role
from apps.tenancy.services import api_token_create
from tests.factories import UserFactory, member

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(username="platform-admin", is_staff=True, is_superuser=True))
    return client


def test_deactivating_an_account_in_the_admin_is_audited(staff_client, org):
    user = member(org, Role.FINANCE, username="fran")
    response = staff_client.post(
        f"/admin/tenancy/user/{user.pk}/change/",
        {"username": "fran", "email": user.email, "first_name": "", "last_name": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.is_active is False
    event = AuditEvent.objects.get(action="user.changed_in_admin", object_id=str(user.pk))
    assert event.actor_repr == "platform-admin"
    assert event.before == {"is_active": True} and event.after == {"is_active": False}


def test_an_owner_cannot_be_made_platform_staff(staff_client, org):
    owner = member(org, Role.OWNER, username="olivia")
    response = staff_client.post(
        f"/admin/tenancy/user/{owner.pk}/change/",
        {"username": "olivia", "email": owner.email, "is_active": "on", "is_staff": "on", "is_superuser": "on"},
    )
    assert response.status_code == 200
    assert "An owner of an organization cannot be platform staff" in response.content.decode()
    owner.refresh_from_db()
    assert not owner.is_staff and not owner.is_superuser
    assert not AuditEvent.objects.filter(action="user.changed_in_admin").exists()


def test_accounts_cannot_be_deleted_in_the_admin(staff_client, org):
    user = member(org, Role.FINANCE, username="fran")
    assert staff_client.post(f"/admin/tenancy/user/{user.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_a_password_set_in_the_admin_is_audited_without_the_password(staff_client, org):
    user = member(org, Role.FINANCE, username="fran")
    response = staff_client.post(
        f"/admin/tenancy/user/{user.pk}/password/",
        {"password1": "a new long passphrase 42", "password2": "a new long passphrase 42", "usable_password": "true"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a new long passphrase 42")
    event = AuditEvent.objects.get(action="user.password_set_in_admin", object_id=str(user.pk))
    assert "passphrase" not in str(event.before) + str(event.after)


def test_memberships_and_tokens_are_read_only(staff_client, org):
    user = member(org, Role.VIEWER, username="vic")
    membership = Membership.objects.get(user=user)
    assert staff_client.post(f"/admin/tenancy/membership/{membership.pk}/change/", {"role": "owner"}).status_code == 403
    assert Membership.objects.get(pk=membership.pk).role == Role.VIEWER

    token, _raw = api_token_create(user=user, name="ledger")
    response = staff_client.post(f"/admin/tenancy/apitoken/{token.pk}/change/", {"key_hash": "0" * 64})
    assert response.status_code == 403
    assert ApiToken.objects.get(pk=token.pk).key_hash == token.key_hash
