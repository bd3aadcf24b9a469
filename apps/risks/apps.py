from django.apps import AppConfig


class RisksConfig(AppConfig):
    name = "apps.risks"
    label = "risks"

    def ready(self):
        from apps.risks.indicators import kpi_value, register_indicator_source

        register_indicator_source("kpi", kpi_value)
