from django.apps import AppConfig
from django.conf import settings


class EscrowConfig(AppConfig):
    name = "apps.escrow"
    label = "escrow"

    def ready(self):
        if settings.ETH_RPC_URL:
            from apps.core.health import READINESS_CHECKS
            from apps.escrow.health import chain_ready

            READINESS_CHECKS["chain"] = chain_ready
