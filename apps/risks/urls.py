"""This app's API routes, included under /api/ by govtrack/urls.py."""

from rest_framework.routers import SimpleRouter

from apps.risks.api.views import (
    KeyRiskIndicatorViewSet,
    MitigationViewSet,
    RiskMatrixViewSet,
    RiskRegisterViewSet,
    RiskViewSet,
)

router = SimpleRouter()
router.register("risk-matrices", RiskMatrixViewSet, basename="risk-matrix")
router.register("risk-registers", RiskRegisterViewSet, basename="risk-register")
router.register("risks", RiskViewSet, basename="risk")
router.register("mitigations", MitigationViewSet, basename="mitigation")
router.register("key-risk-indicators", KeyRiskIndicatorViewSet, basename="key-risk-indicator")

urlpatterns = router.urls
