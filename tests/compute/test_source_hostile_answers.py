"""A Prometheus source that answers with JSON nested 100,000 deep, collected by a real Celery worker process.

The worker records a classified failure on the source and goes on working. Before the depth cap (and with
py_ecc's recursion limit) the worker died with SIGSEGV, and with acks-late the message came back to kill the next
worker: every background task stalled.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.audit.tasks import audit_verify_chains
from apps.compute.models import ComputeSource, SourceKind
from apps.compute.tasks import compute_collect_source
from apps.tenancy.services import organization_create
from tests.core.test_celery_worker import worker  # noqa: F401 - the real worker process fixture
from tests.factories import UserFactory


class DeepAnswer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"[" * 100_000

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def _loopback_allowed(monkeypatch):
    """The test server listens on loopback: the worker process is told so, as an operator would allow an on-prem
    Prometheus (EGRESS_ALLOW_NETWORKS is read from its environment)."""
    monkeypatch.setenv("EGRESS_ALLOW_NETWORKS", "127.0.0.1/32")


@pytest.fixture
def deep_prometheus():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DeepAnswer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_worker_records_a_too_deep_answer_and_keeps_working(_loopback_allowed, worker, deep_prometheus):  # noqa: F811
    owner = UserFactory()
    organization = organization_create(name="Hostile Answers", created_by=owner)
    source = ComputeSource.objects.create(
        organization=organization,
        name="Hostile",
        kind=SourceKind.PROMETHEUS,
        config={"url": deep_prometheus, "mappings": "node_exporter", "timeout": 5},
    )

    outcome = compute_collect_source.apply_async(args=[str(source.pk)], queue=worker).get(timeout=60)

    assert outcome["ok"] is False and outcome["retry_in_seconds"] > 0
    source.refresh_from_db()
    assert source.consecutive_failures == 1 and source.last_error.startswith("Prometheus")
    assert "[[[" not in source.last_error  # the answer itself is never copied
    # The same worker takes the next task.
    assert audit_verify_chains.apply_async(queue=worker).get(timeout=60)["broken"] == {}
