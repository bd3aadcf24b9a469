"""A real Celery worker, started by the test against Redis and the test database, runs a task."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from apps.audit.tasks import audit_verify_chains
from apps.tenancy.services import organization_create
from govtrack.celery import app as celery_app
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def database_url(connection) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(transactional_db, redis_url):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on a server (PostgreSQL)")
    queue = f"govtrack-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "govtrack",
            "worker",
            "-P",
            "solo",
            "-Q",
            queue,
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield queue
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        if "Traceback" in output:
            print(output)


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
