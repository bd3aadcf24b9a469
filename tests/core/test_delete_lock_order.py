"""Deletes take the row before the audit chain head (docs/controls.md, lock order), as updates do.

Found by the API fuzzing gate: a DELETE that appended its audit event first and an update of the same row that had
already locked it each waited for the other, and PostgreSQL answered one of them with a deadlock (a 500). Here one
transaction holds the row as an update does, the delete starts meanwhile, then the holder appends its own audit
event: with the old order that is a deadlock, with the right one the delete waits for the row and goes through."""

import threading
import time

import pytest
from django.db import connections, transaction

from apps.audit.services import audit_record
from apps.compute.models import ComputeSource
from apps.compute.services.sources import source_delete
from apps.tenancy.models import Role
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.services import webhook_endpoint_delete
from tests.factories import OrganizationFactory, member


def race_delete_against_update(*, organization, lock_row, delete) -> list[BaseException]:
    errors: list[BaseException] = []
    row_held = threading.Event()

    def other_request_deletes():
        row_held.wait(10)
        try:
            delete()
        except BaseException as exc:  # the test reports whatever the delete raised
            errors.append(exc)
        finally:
            connections.close_all()

    deleter = threading.Thread(target=other_request_deletes)
    deleter.start()
    try:
        with transaction.atomic():
            lock_row()
            row_held.set()
            time.sleep(1.5)  # the delete is now waiting on the first lock it takes
            audit_record(action="test.updated", organization=organization)
    except BaseException as exc:
        errors.append(exc)
    deleter.join(30)
    assert not deleter.is_alive()
    return errors


@pytest.mark.django_db(transaction=True)
def test_webhook_delete_waits_for_an_update_holding_the_endpoint(postgres):
    organization = OrganizationFactory()
    owner = member(organization, Role.OWNER)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, url="https://hooks.example.com/h", secret="whsec_x", events=[]
    )

    errors = race_delete_against_update(
        organization=organization,
        lock_row=lambda: WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk),
        delete=lambda: webhook_endpoint_delete(endpoint=endpoint, by=owner),
    )

    assert errors == []
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_source_delete_waits_for_an_update_holding_the_source(postgres):
    organization = OrganizationFactory()
    owner = member(organization, Role.OWNER)
    source = ComputeSource.objects.create(organization=organization, name="edge", kind="push")

    errors = race_delete_against_update(
        organization=organization,
        lock_row=lambda: ComputeSource.objects.select_for_update().get(pk=source.pk),
        delete=lambda: source_delete(source=source, by=owner),
    )

    assert errors == []
    assert not ComputeSource.objects.filter(pk=source.pk).exists()
