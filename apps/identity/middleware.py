"""An organization's two-factor rule, applied to every signed-in browser session before anything else happens.

A member of an organization that requires two-factor and has not set it up is sent to the set-up page from every
page, and the API refuses their session's writes (403 naming the organization). API tokens are not affected: a
token is made from a session that already passed this gate, and it is revoked, not re-verified.
"""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.urls import reverse

from apps.identity import selectors
from apps.tenancy.services import TOKEN_PREFIX

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/readyz")


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request):
        if request.path.startswith(OPEN_PREFIXES):
            return None
        if request.path.startswith("/api/") and _bears_api_token(request):
            return None  # the token authenticates (or is refused with a 401); the session plays no part
        user = request.user
        if not user.is_authenticated:
            return None
        required_by = selectors.organizations_requiring_two_factor(user=user)
        if not required_by or selectors.two_factor_enabled(user=user):
            return None
        names = ", ".join(org.name for org in required_by)
        setup = reverse("two_factor_setup")
        if request.path.startswith("/api/"):
            if request.method in SAFE_METHODS:
                return None
            return JsonResponse(
                {
                    "message": f"{names} requires two-factor sign-in: set it up at {setup} before making changes.",
                    "extra": {"two_factor_setup": setup},
                },
                status=403,
            )
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=204)
            response["HX-Redirect"] = setup
            return response
        return redirect_to_login(request.get_full_path(), login_url=setup)


def _bears_api_token(request) -> bool:
    keyword, _, raw = request.headers.get("Authorization", "").partition(" ")
    return keyword == "Bearer" and raw.strip().startswith(TOKEN_PREFIX)
