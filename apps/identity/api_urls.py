from django.urls import path

from apps.identity.api import TwoFactorPolicyView

urlpatterns = [
    path(
        "organizations/<uuid:pk>/two-factor-policy/",
        TwoFactorPolicyView.as_view(),
        name="organization-two-factor-policy",
    ),
]
