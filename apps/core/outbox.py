"""The outbox's nudge: once a business transaction commits, tell a worker that its side effects are waiting.

Side effects (webhook deliveries, chain intents, report builds, collections) are rows written in the caller's
transaction, and a beat-scheduled sweep finds and dispatches every row that is still waiting. The nudge only makes
that prompt. It publishes once, over a broker connection of its own with tight timeouts and no retry, and never
raises: a dead or blackholed broker costs one request about one OUTBOX_NUDGE_TIMEOUT_SECONDS (then nudges pause
for OUTBOX_NUDGE_PAUSE_SECONDS), and the rows wait for the sweep. A request never fails or stalls on the broker.
"""

import logging
import threading
import time
from functools import partial

from celery import Task
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


class _ThreadProducer(threading.local):
    # kombu connections are not thread-safe: one per web thread, kept between requests, so a nudge costs what
    # Celery's pooled .delay() does (bench/outbox_nudge.py).
    connection = None
    producer = None


class _BrokerPause:
    # Shared by the process's threads: after one failed nudge the others do not wait on the same dead broker.
    until = 0.0


_thread = _ThreadProducer()
_pause = _BrokerPause()


def outbox_nudge(task: Task, *args) -> None:
    """Publishes `task(*args)` once the current transaction commits (at once outside one); never raises."""
    transaction.on_commit(partial(outbox_publish, task, args), robust=True)


def outbox_publish(task: Task, args: tuple = ()) -> bool:
    """One publish, bounded in time; False (and a warning) when the broker did not take it."""
    if task.app.conf.task_always_eager:
        # Embedded default: the task runs here. Its own failures are recorded on its rows; anything else is logged,
        # since the change it follows is already committed.
        try:
            task.apply_async(args=args, ignore_result=True)
        except Exception:
            logger.exception("outbox: %s%r failed in-process; the sweep tries it again", task.name, args)
            return False
        return True
    if time.monotonic() < _pause.until:
        logger.info("outbox: broker paused after a failure; %s%r is left to the sweep", task.name, args)
        return False
    try:
        task.apply_async(args=args, retry=False, ignore_result=True, producer=_producer(task))
    except Exception as exc:  # any broker or socket error: the rows stay and the sweep dispatches them
        _drop_connection()
        _pause.until = time.monotonic() + settings.OUTBOX_NUDGE_PAUSE_SECONDS
        logger.warning("outbox: could not queue %s%r (%s); the sweep will dispatch it", task.name, args, exc)
        return False
    return True


def outbox_prepare() -> None:
    """Loads what a publish needs at start-up (no network: the transport, the message sender, the result class), so
    a process's first nudge does not pay those imports (~0.4 s) inside a request."""
    from celery import current_app

    if not current_app.conf.task_always_eager:
        connection = current_app.connection_for_write()
        _ = connection.transport, current_app.amqp.send_task_message, current_app.backend
        connection.collect()


def outbox_reset() -> None:
    """Forgets the thread's broker connection and any pause (the broker URL changed, or a test starts afresh)."""
    _drop_connection()
    _pause.until = 0.0


def _producer(task: Task):
    if _thread.producer is None:
        timeout = settings.OUTBOX_NUDGE_TIMEOUT_SECONDS
        _thread.connection = task.app.connection_for_write(
            connect_timeout=timeout,
            transport_options={
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry_on_timeout": False,
                "max_retries": 0,  # kombu's connect loop: one attempt
            },
        )
        _thread.producer = task.app.amqp.Producer(_thread.connection, auto_declare=False)
    return _thread.producer


def _drop_connection() -> None:
    connection, _thread.connection, _thread.producer = _thread.connection, None, None
    if connection is not None:
        connection.collect()  # releases the sockets without talking to the broker
