from django.apps import AppConfig


class EconomicsConfig(AppConfig):
    name = "apps.economics"
    label = "economics"
    verbose_name = "Economics"

    def ready(self):
        try:
            from apps.risks.indicators import register_indicator_source
        except ImportError:  # the risks app is optional
            return
        from apps.economics.indicators import risk_indicator_value

        register_indicator_source("economics", risk_indicator_value)
