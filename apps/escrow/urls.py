"""This app's API routes, included under /api/ by govtrack/urls.py."""

from rest_framework.routers import SimpleRouter

from apps.escrow.api import views

router = SimpleRouter()
router.register("escrow/tokens", views.EscrowTokenViewSet, basename="escrow-token")
router.register("escrow/agreements", views.EscrowAgreementViewSet, basename="escrow-agreement")
router.register("escrow/milestones", views.EscrowMilestoneViewSet, basename="escrow-milestone")
router.register("escrow/transactions", views.ChainTxViewSet, basename="escrow-transaction")

urlpatterns = router.urls
