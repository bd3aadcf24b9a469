from django.contrib.auth import views as auth_views
from django.urls import path

from apps.identity import oidc, views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("two-factor/", views.two_factor_setup, name="two_factor_setup"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/<uuid:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/recovery-codes/", views.recovery_codes_regenerate, name="two_factor_recovery_codes"),
    path("two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("two-factor/policy/<uuid:pk>/", views.two_factor_policy_change, name="two_factor_policy"),
    # OpenID Connect sign-in (404 unless the operator configured a provider).
    path("oidc/authenticate/", oidc.ProviderSignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.ProviderCallbackView.as_view(), name="oidc_authentication_callback"),
    # Password reset by email: Django's views; the sent page reads the same for unknown addresses.
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetSentView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetSetView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
