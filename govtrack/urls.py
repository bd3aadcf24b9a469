from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from apps.audit.api import AuditEventViewSet
from apps.core.api_docs import api_docs, api_redoc, api_schema
from apps.core.health import healthz, readyz
from apps.core.metrics import metrics
from apps.proofs.urls import api_urlpatterns as proof_api_urls
from apps.tenancy.api import ApiTokenViewSet, InvitationViewSet, MembershipViewSet, MeView, OrganizationViewSet

router = DefaultRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

api_patterns = [
    path("", include("apps.reports.api_urls")),
    path("me/", MeView.as_view(), name="me"),
    path("schema/", api_schema, name="schema"),
    path("docs/", api_docs, name="api-docs"),
    path("redoc/", api_redoc, name="api-redoc"),
    path("", include(router.urls)),
    path("", include("apps.identity.api_urls")),
    path("", include("apps.funding.urls")),
    path("", include("apps.webhooks.urls")),
    path("", include("apps.compliance.urls")),
    path("", include("apps.risks.urls")),
    path("", include("apps.compute.urls")),
    path("", include("apps.escrow.urls")),
    path("", include(proof_api_urls)),
    path("", include("apps.economics.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("accounts/", include("apps.identity.urls")),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # The API is versioned in its path (docs/api.md, "Versions and deprecation"). The unversioned paths answer the
    # same until API_UNVERSIONED_SUNSET, with Deprecation, Sunset and Link headers (apps/core/middleware.py). Of two
    # routes with one name reverse() gives the one listed last, so every link the API writes is under /api/v1/.
    # Not for /api/v1/...: without the lookahead every versioned request first failed through each unversioned route.
    re_path(r"^api/(?!v1/)", include(api_patterns)),
    path("", include("apps.proofs.urls")),
    path("api/v1/", include(api_patterns)),
    path("", include("apps.dashboard.urls")),
]
