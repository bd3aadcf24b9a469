import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tenancy.models import ApiToken, Role
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_user():
    return member(OrganizationFactory(name="Acme"), Role.FINANCE, username="cfo")


def create_token(client_for, user, **body) -> dict:
    response = client_for(user).post("/api/tokens/", {"name": "ledger-sync", **body})
    assert response.status_code == 201, response.json()
    return response.json()


def bearer(api_client, raw):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def test_token_is_shown_once_and_stored_only_as_hash(client_for, finance_user):
    created = create_token(client_for, finance_user, expires_in_days=30)
    raw = created["token"]
    assert raw.startswith("gt_")
    stored = ApiToken.objects.get(pk=created["id"])
    assert raw not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    listed = client_for(finance_user).get("/api/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ledger-sync"]
    assert "token" not in listed[0]
    assert AuditEvent.objects.filter(action="api_token.created", object_id=str(stored.pk)).exists()


def test_token_authenticates_a_finance_tool(api_client, client_for, finance_user):
    raw = create_token(client_for, finance_user)["token"]
    response = bearer(api_client, raw).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "cfo"
    assert ApiToken.objects.get(name="ledger-sync").last_used_at is not None


def test_expired_token_is_refused_with_reason(api_client, client_for, finance_user):
    created = create_token(client_for, finance_user)
    ApiToken.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = bearer(api_client, created["token"]).get("/api/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_revoked_token_is_refused_and_revocation_is_audited(api_client, client_for, finance_user):
    created = create_token(client_for, finance_user)
    response = client_for(finance_user).post(f"/api/tokens/{created['id']}/revoke/")
    assert response.status_code == 200 and response.json()["is_active"] is False
    response = bearer(api_client, created["token"]).get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"message": "API token 'ledger-sync' was revoked.", "extra": {}}
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_cannot_revoke_someone_elses_token(client_for, finance_user):
    created = create_token(client_for, finance_user)
    other = member(OrganizationFactory(), Role.OWNER)
    assert client_for(other).post(f"/api/tokens/{created['id']}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is None


def test_garbage_token_is_401(api_client):
    response = bearer(api_client, "gt_deadbeef_nope").get("/api/me/")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API token."


def test_token_lifetime_is_bounded(client_for, finance_user):
    response = client_for(finance_user).post("/api/tokens/", {"name": "forever", "expires_in_days": 5000})
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["expires_in_days"]
    assert not ApiToken.objects.filter(name="forever").exists()


def test_duplicate_token_name_names_the_field(client_for, finance_user):
    create_token(client_for, finance_user)
    response = client_for(finance_user).post("/api/tokens/", {"name": "ledger-sync"})
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"name": ["You already have a token named 'ledger-sync'."]}
