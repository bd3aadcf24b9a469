"""The project's URLs plus a plain Django view under /api/ that fails, for the JSON 500 test."""

from django.urls import path

from govtrack.urls import urlpatterns as project_urlpatterns


def failing_view(request):
    raise RuntimeError("a bug outside the API framework")


urlpatterns = [path("api/test-failure/", failing_view), *project_urlpatterns]
