"""The admin is a support window: platform staff see every row, and nothing they post there changes money, state,
evidence or the audit trail behind the services' back. Everything here goes through the admin's own views."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.compute.models import ComputeSource, Device
from apps.funding.models import Disbursement, Evidence, Milestone, MilestoneCriterion
from apps.tenancy.models import Role
from tests.factories import UserFactory, member
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(username="support-sam", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def milestone(org):
    return MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("40000"), status="released")


@pytest.fixture
def disbursement(milestone):
    return Disbursement.objects.create(
        organization=milestone.organization,
        milestone=milestone,
        amount=Decimal("40000"),
        currency=milestone.currency,
        paid_on=dt.date(2026, 6, 1),
        reference="BANK-1",
    )


@pytest.fixture
def evidence(milestone, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return Evidence.objects.create(
        milestone=milestone,
        file=SimpleUploadedFile("report.csv", b"gpu,util\n0,91\n"),
        original_name="report.csv",
        content_type="text/csv",
        size=14,
        sha256="0" * 64,
    )


def page(response) -> str:
    return response.content.decode()


# --- who may open the admin ---------------------------------------------------------------------------------------


def test_a_tenant_owner_cannot_open_the_admin(org):
    owner = member(org, Role.OWNER, username="olivia")
    client = Client()
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/funding/milestone/").status_code == 302


def test_a_tenant_owner_flagged_as_staff_is_still_refused(org):
    """Platform staff see every tenant's rows, so an owner of one tenant is never let in, whatever its flags."""
    owner = member(org, Role.OWNER, username="olivia")
    get_user_model().objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(get_user_model().objects.get(pk=owner.pk))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_platform_staff_open_the_admin_and_see_every_tenants_rows(staff_client, milestone, outsider):
    other = MilestoneFactory(grant=GrantFactory(organization=outsider.memberships.get().organization))
    listing = staff_client.get("/admin/funding/milestone/")
    assert listing.status_code == 200
    assert milestone.title in page(listing) and other.title in page(listing)


# --- nothing that decides money or evidence changes -----------------------------------------------------------


def test_posting_a_changed_milestone_leaves_it_unchanged(staff_client, milestone, outsider):
    url = f"/admin/funding/milestone/{milestone.pk}/change/"
    title = milestone.title
    form = staff_client.get(url)
    assert form.status_code == 200
    assert 'name="amount"' not in page(form) and 'name="status"' not in page(form)
    assert "40000" in page(form)

    response = staff_client.post(
        url,
        {
            "title": "Renamed",
            "amount": "1",
            "currency": "USD",
            "due_date": "2030-01-01",
            "status": "planned",
            "organization": str(outsider.memberships.get().organization_id),
        },
    )
    assert response.status_code == 403
    milestone.refresh_from_db()
    assert (milestone.title, milestone.amount, milestone.currency, milestone.status) == (
        title,
        Decimal("40000"),
        "EUR",
        "released",
    )
    assert milestone.due_date == dt.date(2026, 12, 1) and milestone.organization.name == "Acme Compute"
    assert not AuditEvent.objects.filter(object_id=str(milestone.pk)).exists()


def test_posting_a_changed_criterion_leaves_its_status_result_and_config_unchanged(staff_client, milestone):
    criterion = MilestoneCriterion.objects.create(
        milestone=milestone, kind="manual", description="Board sign-off", config={"approver_roles": ["owner"]}
    )
    response = staff_client.post(
        f"/admin/funding/milestonecriterion/{criterion.pk}/change/",
        {"status": "met", "last_result": '{"passed": true}', "config": '{"approver_roles": []}'},
    )
    assert response.status_code == 403
    criterion.refresh_from_db()
    assert criterion.status == "pending" and criterion.last_result == {}
    assert criterion.config == {"approver_roles": ["owner"]}


def test_posting_changed_device_labels_leaves_them_unchanged(staff_client, org):
    """Labels decide which devices count as a compute milestone's evidence."""
    device = Device.objects.create(organization=org, key="gpu-0", labels={"cluster": "blackwell-a"})
    form = staff_client.get(f"/admin/compute/device/{device.pk}/change/")
    assert form.status_code == 200 and 'name="labels"' not in page(form)
    response = staff_client.post(
        f"/admin/compute/device/{device.pk}/change/", {"key": "gpu-0", "labels": '{"cluster": "other"}'}
    )
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.labels == {"cluster": "blackwell-a"}


def test_posting_a_changed_disbursement_leaves_it_unchanged(staff_client, disbursement):
    response = staff_client.post(
        f"/admin/funding/disbursement/{disbursement.pk}/change/", {"amount": "1.00", "paid_on": "2030-01-01"}
    )
    assert response.status_code == 403
    disbursement.refresh_from_db()
    assert disbursement.amount == Decimal("40000") and disbursement.paid_on == dt.date(2026, 6, 1)


# --- no deletes, no adds of financial rows --------------------------------------------------------------------


def test_financial_evidence_and_audit_rows_cannot_be_deleted(staff_client, disbursement, evidence, org):
    event = audit_record(action="test.recorded", organization=org, obj=org)
    for url in (
        f"/admin/funding/disbursement/{disbursement.pk}/delete/",
        f"/admin/funding/evidence/{evidence.pk}/delete/",
        f"/admin/audit/auditevent/{event.pk}/delete/",
    ):
        assert staff_client.get(url).status_code == 403, url
        assert staff_client.post(url, {"post": "yes"}).status_code == 403, url

    bulk = staff_client.post(
        "/admin/funding/disbursement/",
        {"action": "delete_selected", "_selected_action": [str(disbursement.pk)], "post": "yes", "index": "0"},
    )
    assert bulk.status_code in (200, 302)
    assert Disbursement.objects.filter(pk=disbursement.pk).exists()
    assert Evidence.objects.filter(pk=evidence.pk).exists()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_milestones_and_disbursements_cannot_be_added_in_the_admin(staff_client, milestone):
    assert staff_client.get("/admin/funding/disbursement/add/").status_code == 403
    response = staff_client.post(
        "/admin/funding/disbursement/add/",
        {"milestone": str(milestone.pk), "amount": "5", "currency": "EUR", "paid_on": "2026-06-02", "kind": "fiat"},
    )
    assert response.status_code == 403
    assert not Disbursement.objects.exists()
    assert staff_client.get("/admin/funding/milestone/add/").status_code == 403
    assert Milestone.objects.count() == 1


def test_every_registered_tenant_model_is_read_only_without_add_or_delete(staff):
    """A sweep over the whole admin, so a model registered later cannot reopen a side door."""
    request = RequestFactory().get("/admin/")
    request.user = staff
    user_model = get_user_model()
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model is user_model or model._meta.app_label == "auth":
            continue  # platform accounts: see tests/tenancy/test_admin_users.py
        label = model._meta.label
        assert not model_admin.has_add_permission(request), label
        assert not model_admin.has_delete_permission(request), label
        editable = set(getattr(model_admin, "editable_fields", ()))
        if model_admin.has_change_permission(request):
            writable = {f.name for f in model._meta.fields} - set(model_admin.get_readonly_fields(request))
            assert writable <= editable, (label, writable - editable)
        checked += 1
    assert checked >= 40


def test_every_changelist_opens_for_platform_staff(staff_client):
    user_model = get_user_model()
    for model in admin.site._registry:
        if model is user_model:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert staff_client.get(url).status_code == 200, url


def test_a_compute_sources_credentials_are_not_shown(staff_client, org):
    source = ComputeSource.objects.create(
        organization=org,
        name="dcgm",
        kind="prometheus",
        config={"url": "https://prom.example.test", "bearer_token": "s3cr3t-bearer", "headers": {"X-Key": "k3y"}},
    )
    response = staff_client.get(f"/admin/compute/computesource/{source.pk}/change/")
    assert response.status_code == 200
    text = page(response)
    assert "https://prom.example.test" in text
    assert "s3cr3t-bearer" not in text and "k3y" not in text
