"""The outbox's nudge against a real Redis of the test's own, and against brokers that refuse, never answer, or
never accept: it publishes after commit, and a dead broker costs one bounded wait, then none, and never an error."""

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import redis
from django.db import transaction

from apps.core.outbox import outbox_nudge, outbox_publish, outbox_reset
from apps.core.tasks import idempotency_forget_expired_keys
from apps.webhooks.tasks import webhook_deliver
from tests.conftest import free_port

APPS = Path(__file__).resolve().parents[2] / "apps"
# What one nudge may cost a request when the broker does not answer: OUTBOX_NUDGE_TIMEOUT_SECONDS (0.08) for the
# connect and as much for a read, plus scheduling on a busy machine (bench/outbox_nudge.py measures ~0.1 s).
DEAD_BROKER_BUDGET_SECONDS = 0.3


@pytest.fixture
def silent_broker():
    """Accepts connections and never answers (a hung broker)."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def unreachable_broker():
    """Never completes a TCP handshake (a firewalled broker): its accept queue is full, so new SYNs are dropped."""
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield f"redis://127.0.0.1:{port}/0"
    for filler in fillers:
        filler.close()
    server.close()


def queued(url: str) -> list[dict]:
    return [json.loads(raw)["headers"] for raw in redis.Redis.from_url(url).lrange("celery", 0, -1)]


@pytest.mark.services
def test_nudge_is_published_once_the_transaction_commits(transactional_db, private_redis, broker_at):
    broker_at(private_redis.url)
    with transaction.atomic():
        outbox_nudge(idempotency_forget_expired_keys)
        assert queued(private_redis.url) == []  # nothing leaves before the commit
    [message] = queued(private_redis.url)
    assert message["task"] == "apps.core.tasks.idempotency_forget_expired_keys"

    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_nudge(idempotency_forget_expired_keys)
        raise RuntimeError("the business change fails")
    assert len(queued(private_redis.url)) == 1  # a rolled-back change nudges nobody


@pytest.mark.services
def test_nudges_reuse_the_connection_and_survive_a_broker_restart(private_redis, broker_at):
    broker_at(private_redis.url)
    assert outbox_publish(idempotency_forget_expired_keys)
    started = time.monotonic()
    for _ in range(20):
        assert outbox_publish(idempotency_forget_expired_keys)
    per_publish = (time.monotonic() - started) / 20
    assert per_publish < 0.02, f"{per_publish * 1000:.1f} ms per publish"
    private_redis.stop()
    private_redis.start()
    outbox_reset()  # only the pause: the kept connection reconnects by itself
    assert outbox_publish(idempotency_forget_expired_keys)
    assert len(queued(private_redis.url)) == 1  # the restarted broker kept nothing; the new message is there


@pytest.mark.parametrize("broker", ["refused", "silent", "unreachable"])
def test_a_dead_broker_costs_one_bounded_wait_then_none(broker, broker_at, request, caplog):
    url = f"redis://127.0.0.1:{free_port()}/0" if broker == "refused" else request.getfixturevalue(f"{broker}_broker")
    broker_at(url)

    started = time.monotonic()
    assert outbox_publish(webhook_deliver, ("a-delivery",)) is False
    first = time.monotonic() - started
    started = time.monotonic()
    assert outbox_publish(webhook_deliver, ("another",)) is False
    second = time.monotonic() - started

    assert first < DEAD_BROKER_BUDGET_SECONDS, f"{broker}: the first nudge took {first * 1000:.0f} ms"
    assert second < 0.01, f"{broker}: a nudge while paused took {second * 1000:.1f} ms"
    assert "the sweep will dispatch it" in caplog.text


def test_a_task_failing_in_process_is_logged_not_raised(db, caplog):
    # Embedded default: the task runs in the committing request; a failure there must not turn the answer into a 500.
    assert outbox_publish(webhook_deliver, ("not-a-uuid",)) is False
    assert "failed in-process" in caplog.text


def test_no_code_outside_tasks_publishes_to_the_broker_directly():
    """Requests reach the broker only through the outbox nudge; worker tasks (tasks.py) may publish."""
    direct = re.compile(r"\.(delay|apply_async|send_task)\(")
    offenders = [
        f"{path.relative_to(APPS)}:{number}"
        for path in APPS.rglob("*.py")
        if path.name != "tasks.py" and path != APPS / "core" / "outbox.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []
