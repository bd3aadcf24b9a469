"""seed_demo's platform admin is apart from the tenant users: the demo owner is no superuser."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
User = get_user_model()


def seed(settings) -> str:
    settings.DEMO_SEEDERS = []  # the tenancy part only: the apps' demo data has its own tests
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_a_platform_admin_apart_from_the_tenant_users(settings):
    printed = seed(settings)
    assert "platform-admin" in printed and "owner@demo" in printed
    owner, platform_admin = User.objects.get(username="owner@demo"), User.objects.get(username="platform-admin")
    assert not owner.is_staff and not owner.is_superuser
    assert platform_admin.is_staff and platform_admin.is_superuser
    assert not platform_admin.memberships.exists()

    owner_client, admin_client = Client(), Client()
    assert owner.check_password("govtrack-demo") and platform_admin.check_password("govtrack-demo")
    owner_client.force_login(owner)  # the sign-in form itself goes through the lockout backend, which needs a request
    assert owner_client.get("/admin/").status_code == 302
    admin_client.force_login(platform_admin)
    assert admin_client.get("/admin/").status_code == 200


def test_seed_demo_takes_the_admin_flags_off_an_older_demo_owner(settings):
    seed(settings)
    User.objects.filter(username="owner@demo").update(is_staff=True, is_superuser=True)
    seed(settings)
    owner = User.objects.get(username="owner@demo")
    assert not owner.is_staff and not owner.is_superuser
    event = AuditEvent.objects.get(action="user.platform_access_removed", object_id=str(owner.pk))
    assert event.before == {"is_staff": True, "is_superuser": True}
