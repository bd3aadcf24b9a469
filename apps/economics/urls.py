"""This app's API routes, included under /api/ by govtrack/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.economics import api

router = SimpleRouter()
router.register("rate-cards", api.RateCardViewSet, basename="rate-card")
router.register("cost-attributions", api.CostAttributionViewSet, basename="cost-attribution")
router.register("roadmap-phases", api.RoadmapPhaseViewSet, basename="roadmap-phase")
router.register("initiatives", api.InitiativeViewSet, basename="initiative")
router.register("success-metrics", api.SuccessMetricViewSet, basename="success-metric")

urlpatterns = [
    path("compute-economics/", api.ComputeEconomicsView.as_view(), name="compute-economics"),
    *router.urls,
]
