"""This app's API routes, included under /api/ by govtrack/urls.py."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = router.urls
