from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "apps.tenancy"
    label = "tenancy"
    verbose_name = "Organizations and access"

    def ready(self):
        from axes.signals import user_locked_out

        from apps.tenancy.signin import on_user_locked_out

        user_locked_out.connect(on_user_locked_out, dispatch_uid="tenancy.signin_lockout_audit")
