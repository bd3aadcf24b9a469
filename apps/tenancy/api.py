from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.verification import verify_chain
from apps.core.api import error_responses
from apps.core.errors import ValidationFailed
from apps.tenancy import permissions, selectors, services
from apps.tenancy.models import ApiToken, Membership, Organization, Role


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "default_currency", "created_at"]
        read_only_fields = ["id", "created_at"]


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "organization", "username", "role", "created_at"]
        read_only_fields = ["id", "organization", "username", "created_at"]


class MembershipAddSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    memberships = MembershipSerializer(many=True)


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        user = request.user
        data = {"username": user.username, "email": user.email, "memberships": selectors.memberships_of(user=user)}
        return Response(MeSerializer(data).data)


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrganizationSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.organization_list(user=self.request.user)

    def get_object(self):
        return selectors.organization_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(request=OrganizationSerializer, responses={201: OrganizationSerializer, **error_responses(400)})
    def create(self, request):
        serializer = OrganizationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = services.organization_create(created_by=request.user, **serializer.validated_data)
        return Response(OrganizationSerializer(organization).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: MembershipSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def members(self, request, pk=None):
        organization = self.get_object()
        return Response(
            MembershipSerializer(
                selectors.membership_list(user=request.user, organization=organization), many=True
            ).data
        )

    @extend_schema(
        request=MembershipAddSerializer, responses={201: MembershipSerializer, **error_responses(400, 403, 404, 409)}
    )
    @members.mapping.post
    def add_member(self, request, pk=None):
        organization = self.get_object()
        serializer = MembershipAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=serializer.validated_data["username"]).first()
        if user is None:
            raise ValidationFailed.for_field("username", "No user with that username.")
        membership = services.membership_add(
            organization=organization, user=user, role=serializer.validated_data["role"], by=request.user
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: None, **error_responses(403, 404)})
    @action(detail=True, methods=["get"], url_path="audit-verify")
    def audit_verify(self, request, pk=None):
        """Walks this organization's audit chain and reports the first edited, inserted or deleted event."""
        organization = self.get_object()
        services.require(permissions.can_verify_audit_chain(request.user, organization))
        report = verify_chain(str(organization.pk))
        return Response(
            {
                "ok": report.ok,
                "events": report.events,
                "problem": report.problem,
                "seq": report.seq,
                "message": report.message,
                "head_hash": report.head_hash,
            }
        )


class MembershipViewSet(mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = MembershipSerializer
    queryset = Membership.objects.none()  # for the schema; requests use the scoped selector
    http_method_names = ["patch", "delete"]

    def get_object(self):
        return selectors.membership_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(responses={200: MembershipSerializer, **error_responses(400, 403, 404, 409)})
    def partial_update(self, request, pk=None):
        membership = self.get_object()
        serializer = MembershipSerializer(membership, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "role" in serializer.validated_data:
            membership = services.membership_change_role(
                membership=membership, role=serializer.validated_data["role"], by=request.user
            )
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None, **error_responses(403, 404, 409)})
    def destroy(self, request, pk=None):
        services.membership_remove(membership=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at", "is_active"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(required=False, min_value=1)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. Shown once, never again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # for the schema; requests use the user's own tokens
    filter_backends: list = []

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer, **error_responses(400)})
    def create(self, request):
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.api_token_create(user=request.user, **serializer.validated_data)
        data = ApiTokenSerializer(token).data | {"token": raw}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer, **error_responses(404)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = selectors.api_token_get(user=request.user, pk=pk)
        token = services.api_token_revoke(token=token, by=request.user)
        return Response(ApiTokenSerializer(token).data)
