"""An endpoint deleted while another request edits it is a 404 with the error body, not a 500 (found by the API
fuzzing gate: a DELETE landed between the PATCH's lookup and its row lock)."""

import pytest

from apps.tenancy.models import Role
from apps.webhooks.api import WebhookEndpointViewSet
from apps.webhooks.models import WebhookEndpoint
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


def test_patch_of_an_endpoint_deleted_meanwhile_is_a_404(client_for, monkeypatch):
    organization = OrganizationFactory()
    owner = client_for(member(organization, Role.OWNER))
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, url="https://hooks.example.com/h", secret="whsec_x", events=[]
    )
    looked_up = WebhookEndpointViewSet.get_object

    def get_object_then_concurrent_delete(view):
        found = looked_up(view)
        WebhookEndpoint.objects.filter(pk=found.pk).delete()  # the other request's DELETE commits here
        return found

    monkeypatch.setattr(WebhookEndpointViewSet, "get_object", get_object_then_concurrent_delete)

    response = owner.patch(f"/api/webhooks/{endpoint.pk}/", {"description": "ledger"}, format="json")

    assert response.status_code == 404
    assert response.json()["message"] == "Not found."
