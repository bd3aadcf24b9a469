"""Who may create an organization is the operator's setting: platform staff only in production by default."""

import subprocess
import sys

import pytest

from apps.tenancy.models import Membership, Organization, Role
from tests.factories import OrganizationFactory, UserFactory, member
from tests.test_settings import BASE_ENV, ROOT

pytestmark = pytest.mark.django_db


def test_with_staff_only_a_viewer_cannot_make_itself_owner_of_a_new_organization(settings, client_for):
    settings.ORGANIZATION_CREATE = "staff"
    viewer = member(OrganizationFactory(name="Funded Co"), Role.VIEWER)
    response = client_for(viewer).post("/api/organizations/", {"name": "Shadow Org"})
    assert response.status_code == 403
    assert response.json()["message"] == (
        "Only platform staff create organizations here; ask your operator to create one and invite you."
    )
    assert not Organization.objects.filter(name="Shadow Org").exists()

    staff = UserFactory(is_staff=True)
    response = client_for(staff).post("/api/organizations/", {"name": "Real Customer", "slug": "real-customer"})
    assert response.status_code == 201, response.json()
    assert Membership.objects.get(user=staff, organization__name="Real Customer").role == Role.OWNER


def test_with_anyone_a_signed_in_user_creates_one(settings, client_for):
    settings.ORGANIZATION_CREATE = "anyone"
    user = UserFactory()
    response = client_for(user).post("/api/organizations/", {"name": "Laptop Org", "slug": "laptop-org"})
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(("env", "expected"), [({"DEBUG": "0"}, "staff"), ({}, "anyone")])
def test_default_is_staff_in_production_and_anyone_embedded(tmp_path, env, expected):
    code = "import django; django.setup(); from django.conf import settings; print(settings.ORGANIZATION_CREATE)"
    production = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "govtrack.example.com"} if env else {}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **BASE_ENV,
            **env,
            **production,
            "DJANGO_SETTINGS_MODULE": "govtrack.settings",
            "GOVTRACK_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == expected
