"""The public proof pages (govtrack/urls.py includes them at the root) and the API of proof links."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from apps.proofs import api, views

ADDRESS_KEY = r"(?P<token>[A-Za-z0-9_-]{20,64})"

urlpatterns = [
    re_path(rf"^proof/{ADDRESS_KEY}/$", views.proof_page, name="proof-page"),
    re_path(rf"^proof/{ADDRESS_KEY}/report\.json$", views.proof_report, name="proof-report"),
]

router = SimpleRouter()
router.register("proof-links", api.ProofLinkViewSet, basename="proof-link")
api_urlpatterns = router.urls
