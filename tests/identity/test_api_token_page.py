"""The API tokens page under the user's profile: a finance lead makes a tool's first token without scraping the
sign-in form, sees it once, and can revoke it; only a signed-in session gets there."""

import re

import pytest
from django.test import Client

from apps.tenancy.models import ApiToken, Role, TokenScope
from apps.tenancy.services import api_token_create
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'value="(gt_[0-9a-f]{8}_[A-Za-z0-9_-]+)"')


@pytest.fixture
def finance():
    return member(OrganizationFactory(), Role.FINANCE, username="fiona")


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_a_created_token_is_shown_once_with_its_scope_and_expiry_and_works(finance):
    browser = signed_in(finance)

    page = browser.post("/accounts/tokens/", {"name": "ledger-sync", "scope": "read-write", "expires_in_days": "30"})
    (secret,) = SECRET.findall(page.content.decode())
    again = browser.get("/accounts/tokens/").content.decode()
    me = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}")

    token = ApiToken.objects.get(user=finance, name="ledger-sync")
    assert page.status_code == 200 and "no-cache" in page["Cache-Control"]
    assert (
        token.scope == TokenScope.READ_WRITE
        and round((token.expires_at - token.created_at).total_seconds() / 86400) == 30
    )
    assert "ledger-sync" in again and secret not in again and f"gt_{token.prefix}_" in again
    assert me.status_code == 200 and me.json()["username"] == "fiona"


def test_a_refused_token_says_why_beside_the_field(finance):
    api_token_create(user=finance, name="ledger-sync")

    page = signed_in(finance).post(
        "/accounts/tokens/", {"name": "ledger-sync", "scope": "read-only", "expires_in_days": "90"}
    )

    assert page.status_code == 200 and "You already have a token named" in page.content.decode()
    assert not SECRET.findall(page.content.decode())


def test_a_revoked_token_is_refused_and_another_users_token_cannot_be_revoked(finance):
    token, secret = api_token_create(user=finance, name="ledger-sync")
    other, _ = api_token_create(user=member(OrganizationFactory(), Role.OWNER), name="theirs")
    browser = signed_in(finance)

    revoked = browser.post(f"/accounts/tokens/{token.pk}/revoke/")
    foreign = browser.post(f"/accounts/tokens/{other.pk}/revoke/")

    assert revoked.status_code == 302
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert foreign.status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


def test_only_a_signed_in_session_reaches_the_page(finance):
    _, secret = api_token_create(user=finance, name="ledger-sync", scope=TokenScope.READ_WRITE)

    with_token = Client().post(
        "/accounts/tokens/",
        {"name": "minted", "scope": "read-write", "expires_in_days": "90"},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert with_token.status_code == 302 and "/accounts/login/" in with_token["Location"]
    assert not ApiToken.objects.filter(name="minted").exists()
