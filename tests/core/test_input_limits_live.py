"""A deeply nested JSON body against a real gunicorn worker, in its own process: the worker answers 400 and lives.

Before the recursion limit was restored, this body made the worker's JSON parser overflow the C stack (SIGSEGV);
in a process of its own that shows as a dropped connection and a new worker, not as a crashed test run.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from apps.compute.models import DeviceKind
from apps.compute.services.devices import device_create
from apps.tenancy.models import Role, TokenScope
from apps.tenancy.services import api_token_create
from tests.conftest import free_port, wait_for_port
from tests.workers import database_url
from tests.factories import OrganizationFactory, member

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gunicorn(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs the test database on a server (PostgreSQL)")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "DEBUG": "0",
        "SECRET_KEY": "test-only-secret-key-for-the-live-server",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "govtrack.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "process": proc}
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        print(output[-4000:])


def _worker_pids(server_pid: int) -> set[int]:
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def test_a_deep_body_is_a_400_and_the_worker_survives(gunicorn):
    org = OrganizationFactory(name="Live Org")
    owner = member(org, Role.OWNER, username="live-owner")
    _token, raw = api_token_create(user=owner, name="live", scope=TokenScope.READ_WRITE)
    _device, device_token = device_create(organization=org, by=owner, key="board-1", kind=DeviceKind.EDGE)
    url = gunicorn["url"]
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}

    assert requests.get(f"{url}/api/me/", headers=headers, timeout=30).status_code == 200
    workers = _worker_pids(gunicorn["process"].pid)

    deep = requests.post(f"{url}/api/funders/", data="[" * 100_000, headers=headers, timeout=30)
    assert deep.status_code == 400
    assert deep.json()["extra"]["fields"] == {"body": ["The request body is JSON nested deeper than 64 levels."]}

    ingest = requests.post(
        f"{url}/api/compute/ingest/",
        data='{"device": "board-1", "samples": ' + "[" * 100_000 + "}",
        headers={"Authorization": f"Device {device_token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert ingest.status_code == 400
    assert ingest.json()["extra"]["fields"] == {"body": ["The request body is JSON nested deeper than 64 levels."]}

    time.sleep(0.5)  # a worker killed by a signal is replaced within a moment
    assert gunicorn["process"].poll() is None
    assert _worker_pids(gunicorn["process"].pid) == workers  # the same worker, not a replacement
    assert requests.get(f"{url}/api/me/", headers=headers, timeout=30).status_code == 200
