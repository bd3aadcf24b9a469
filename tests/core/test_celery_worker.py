"""A real Celery worker, started by the test against Redis and the test database, runs a task."""

import uuid

import pytest
from django.db import connection

from apps.audit.tasks import audit_verify_chains
from apps.tenancy.services import organization_create
from govtrack.celery import app as celery_app
from tests.factories import UserFactory
from tests.workers import CeleryWorker


@pytest.fixture
def worker(transactional_db, redis_url, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on a server (PostgreSQL)")
    queue = f"govtrack-test-{uuid.uuid4().hex[:8]}"
    process = CeleryWorker(connection=connection, redis_url=redis_url, log=tmp_path / "worker.log", queue=queue)
    process.start()
    celery_app.conf.task_always_eager = False
    try:
        yield queue
    finally:
        process.stop()


def test_worker_runs_a_task_against_the_database(worker):
    owner = UserFactory()
    organization = organization_create(name="Worker Org", created_by=owner)

    outcome = audit_verify_chains.apply_async(queue=worker).get(timeout=60)
    assert outcome == {"chains": 1, "broken": {}}

    # The worker reads the same rows: a tampered event is reported by the task it runs.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET action = 'organization.deleted' WHERE seq = 1")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    outcome = audit_verify_chains.apply_async(queue=worker).get(timeout=60)
    assert list(outcome["broken"]) == [str(organization.pk)]
    assert "Event #1" in outcome["broken"][str(organization.pk)]
