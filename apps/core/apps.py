from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from apps.core import openapi  # noqa: F401  (registers the schema's field extensions)
        from apps.core.outbox import outbox_prepare

        outbox_prepare()
