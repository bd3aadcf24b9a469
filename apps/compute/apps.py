from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "apps.compute"
    label = "compute"

    def ready(self):
        try:
            from apps.risks.indicators import register_indicator_source
        except ImportError:  # the risks app is optional
            return
        from apps.compute.indicators import risk_indicator_value

        register_indicator_source("compute", risk_indicator_value)
