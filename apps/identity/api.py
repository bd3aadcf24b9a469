from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_responses
from apps.identity import selectors, services
from apps.tenancy import selectors as tenancy_selectors


class TwoFactorPolicySerializer(serializers.Serializer):
    required = serializers.BooleanField(
        help_text="Members must sign in with an authenticator app; those without one are sent to set it up."
    )
    changed_by = serializers.CharField(source="changed_by.username", read_only=True, allow_null=True, default=None)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class TwoFactorPolicyView(APIView):
    """An organization's two-factor rule: any member reads it, an owner changes it."""

    @extend_schema(responses={200: TwoFactorPolicySerializer, **error_responses(404)})
    def get(self, request, pk):
        organization = tenancy_selectors.organization_get(user=request.user, pk=pk)
        return Response(TwoFactorPolicySerializer(selectors.two_factor_policy_of(organization=organization)).data)

    @extend_schema(
        request=TwoFactorPolicySerializer,
        responses={200: TwoFactorPolicySerializer, **error_responses(400, 403, 404)},
        description=(
            "Owners only. Turning it on needs two-factor on the owner's own account. Browser sessions of members "
            "without it are sent to set it up; API tokens keep working."
        ),
    )
    def patch(self, request, pk):
        organization = tenancy_selectors.organization_get(user=request.user, pk=pk)
        serializer = TwoFactorPolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.two_factor_policy_set(
            organization=organization, required=serializer.validated_data["required"], by=request.user
        )
        return Response(TwoFactorPolicySerializer(policy).data)
