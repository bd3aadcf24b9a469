from django.apps import AppConfig


class EconomicsConfig(AppConfig):
    name = "apps.economics"
    label = "economics"
    verbose_name = "Economics"
