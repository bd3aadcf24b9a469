"""OpenID Connect sign-in (mozilla-django-oidc), on when the operator sets OIDC_RP_CLIENT_ID.

The ID token is checked for its signature (RS256 by default, keys from the provider's JWKS), nonce, expiry, issuer
and audience; the account is found by (issuer, sub). A first sign-in makes an account with no membership: an
owner's invitation is still needed to see anything, so single sign-on never grants a role by itself.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.identity import selectors, services


class ProviderBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)  # signature, algorithm, expiry, nonce
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if payload.get("iss") != settings.OIDC_OP_ISSUER:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is meant for another client.")
        if not payload.get("sub"):
            raise SuspiciousOperation("The ID token names no subject.")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload["sub"]:
            raise SuspiciousOperation("The user info is about another subject than the ID token.")
        return services.oidc_user_for(
            issuer=payload["iss"],
            subject=payload["sub"],
            email=claims.get("email") or "",
            email_verified=claims.get("email_verified") is True,
            preferred_username=claims.get("preferred_username") or "",
        )


class ProviderSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (state, nonce and PKCE kept in the session)."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer; an account with two-factor still goes through the code step."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)

    def login_success(self):
        if selectors.two_factor_enabled(user=self.user):
            from apps.identity.views import pending_sign_in_start

            return pending_sign_in_start(self.request, self.user, next_url=self.success_url)
        return super().login_success()

    def login_failure(self):
        messages.error(self.request, f"Signing in with {settings.OIDC_PROVIDER_NAME} did not complete. Try again.")
        return redirect("login")
