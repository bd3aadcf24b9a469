"""The public proof pages (govtrack/urls.py includes them at the root) and the API of proof links."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from apps.proofs import api, views

ADDRESS_KEY = r"(?P<token>[A-Za-z0-9_-]{20,64})"

urlpatterns = [
    re_path(rf"^proof/{ADDRESS_KEY}/$", views.proof_page, name="proof-page"),
    re_path(rf"^proof/{ADDRESS_KEY}/report\.json$", views.proof_report, name="proof-report"),
    path("milestones/<uuid:pk>/proof-links/", views.proof_link_share, name="proof-link-share"),
    path("proof-links/<uuid:pk>/revoke/", views.proof_link_withdraw, name="proof-link-revoke"),
]

router = SimpleRouter()
router.register("proof-links", api.ProofLinkViewSet, basename="proof-link")
api_urlpatterns = router.urls
