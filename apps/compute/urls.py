"""This app's API routes, included under /api/ by govtrack/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.compute.api import views

router = SimpleRouter()
router.register("compute/sources", views.SourceViewSet, basename="compute-source")
router.register("compute/devices", views.DeviceViewSet, basename="compute-device")
router.register("compute/samples", views.SampleViewSet, basename="compute-sample")
router.register("compute/reports", views.ReportViewSet, basename="compute-report")
router.register("compute/criteria", views.CriterionEvaluationViewSet, basename="compute-criterion")

urlpatterns = [
    path("compute/ingest/", views.IngestView.as_view(), name="compute-ingest"),
    *router.urls,
]
