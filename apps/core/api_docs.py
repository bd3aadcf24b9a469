"""The OpenAPI schema and its two readers (Swagger UI, Redoc), open or behind sign-in by settings.API_DOCS_PUBLIC.

Read at request time, so one process answers as its settings say. Swagger UI is the split view (its start-up
script is a file of its own), so the page keeps the site's Content-Security-Policy; Redoc styles itself with
inline <style> elements and searches in a blob: worker, so its page alone is allowed those two.
"""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission


class ApiDocsAccess(BasePermission):
    message = "Sign in to read the API schema."

    def has_permission(self, request, view) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)


class SignInPage:
    """A docs page: the same access rule as the schema, but a browser not signed in is sent to the sign-in form."""

    permission_classes = [ApiDocsAccess]

    def handle_exception(self, exc):
        refused = isinstance(exc, exceptions.NotAuthenticated | exceptions.PermissionDenied)
        if refused and not self.request.user.is_authenticated:
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class SwaggerPage(SignInPage, SpectacularSwaggerSplitView):
    pass


class RedocPage(SignInPage, SpectacularRedocView):
    pass


api_schema = SpectacularAPIView.as_view(permission_classes=[ApiDocsAccess])
api_docs = SwaggerPage.as_view(url_name="schema")
api_redoc = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})(
    RedocPage.as_view(url_name="schema")
)
