import pytest

from apps.core.outbox import outbox_reset
from govtrack.celery import app as celery_app


@pytest.fixture
def broker_at():
    """Points this process's publishing at a broker URL (a test's own Redis); tasks are no longer run in-process."""
    previous = celery_app.conf.broker_url

    def point(url: str) -> None:
        celery_app.conf.broker_url = url
        celery_app.conf.task_always_eager = False
        outbox_reset()

    yield point
    celery_app.conf.broker_url = previous
    outbox_reset()
