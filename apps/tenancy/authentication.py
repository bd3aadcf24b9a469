from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework import permissions as drf_permissions

from apps.tenancy import permissions
from apps.tenancy.models import ApiToken
from apps.tenancy.services import TOKEN_PREFIX, api_token_touch, token_hash


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer gt_...` for finance tools. Expired or revoked tokens get a 401 that says so."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword != self.keyword or not raw.strip().startswith(TOKEN_PREFIX):
            return None
        raw = raw.strip()
        token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(raw)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid API token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(f"API token '{token.name}' was revoked.")
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(f"API token '{token.name}' expired on {token.expires_at:%Y-%m-%d}.")
        api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScopeAllows(drf_permissions.BasePermission):
    """A read-only token may only read; the 403 names the token and its scope."""

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return True
        allowed, reason = permissions.can_use_token_for(request.auth, request.method)
        if not allowed:
            raise exceptions.PermissionDenied(reason)
        return True


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.tenancy.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A token (gt_…) from the API tokens page, /accounts/tokens/, or POST /api/v1/tokens/ from a signed-in "
                "session. "
                "A read-only token may only send GET, HEAD and OPTIONS."
            ),
        }
