"""The Celery app. Worker: `celery -A govtrack worker -l info`; beat: `celery -A govtrack beat -l info`."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govtrack.settings")

app = Celery("govtrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _carry_request_id(headers=None, **_kwargs):
    # The request id of the web request that queued a task follows it into the worker's audit events.
    from apps.core.context import current_request_id

    if headers is not None and "govtrack_request_id" not in headers:
        headers["govtrack_request_id"] = current_request_id()


@task_prerun.connect
def _restore_request_id(task=None, **_kwargs):
    from apps.core.context import set_request_id

    request_id = getattr(task.request, "govtrack_request_id", None) if task else None
    set_request_id(request_id)
