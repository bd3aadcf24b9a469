from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.verification import verify_chain
from apps.core.api import error_responses, organization_for_create, resolve_for_field
from apps.tenancy import permissions, selectors, services
from apps.tenancy.models import ApiToken, Invitation, InvitationStatus, Membership, Organization, Role, TokenScope


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


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    memberships = MembershipSerializer(many=True)


class AuditVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="True when every event's hash and link to the one before it check out.")
    events = serializers.IntegerField(help_text="How many events were checked.")
    problem = serializers.CharField(help_text="What is wrong: edited, inserted or deleted; empty if ok.")
    seq = serializers.IntegerField(allow_null=True, help_text="The sequence number of the first bad event; null if ok.")
    message = serializers.CharField(help_text="The finding in a sentence.")
    head_hash = serializers.CharField(help_text="The hash of the newest event (the genesis hash for an empty chain).")


@extend_schema_view(
    get=extend_schema(
        summary="Who am I",
        description=(
            "The signed-in user (or the token's user): username and the organizations they belong to, with their "
            "role in each. A tool that belongs to several organizations names `organization` on every create."
        ),
    ),
)
class MeView(APIView):
    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        user = request.user
        data = {"username": user.username, "email": user.email, "memberships": selectors.memberships_of(user=user)}
        return Response(MeSerializer(data).data)


@extend_schema_view(
    list=extend_schema(
        summary="List your organizations",
        description="The organizations you belong to, in a fixed order (no `ordering`).",
    ),
    retrieve=extend_schema(
        summary="Get an organization",
        description="One of your organizations.",
    ),
    members=extend_schema(
        summary="List an organization's members",
        description="Its members and their roles.",
    ),
)
class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrganizationSerializer
    filter_backends: list = []  # no filters, a fixed order

    def get_queryset(self):
        return selectors.organization_list(user=self.request.user)

    def get_object(self):
        return selectors.organization_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=OrganizationSerializer,
        responses={201: OrganizationSerializer, **error_responses(400, 403)},
        description="Who may create organizations is the operator's choice (ORGANIZATION_CREATE: staff or anyone).",
    )
    def create(self, request):
        services.require(permissions.can_create_organization(request.user))  # before telling what input is missing
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

    @extend_schema(responses={200: AuditVerifySerializer, **error_responses(403, 404)})
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


@extend_schema_view(
    partial_update=extend_schema(
        summary="Change a member's role",
        description="Owners change a member's role; an organization always keeps at least one owner.",
    ),
    destroy=extend_schema(
        summary="Remove a member",
        description="Owners remove a member from the organization; the last owner cannot be removed.",
    ),
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
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(required=False, min_value=1)
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        default=TokenScope.READ_ONLY,
        help_text="read-only: GET, HEAD and OPTIONS only; read-write: everything the user's roles allow.",
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. Shown once, never again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="List your API tokens",
        description="Your API tokens: name, scope, prefix, expiry and whether revoked; never the secret.",
    ),
    revoke=extend_schema(
        summary="Revoke an API token",
        description="Revokes one of your tokens at once: its next request gets a 401.",
    ),
)
class ApiTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # for the schema; requests use the user's own tokens
    filter_backends: list = []  # no filters, a fixed order

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, **error_responses(400, 403)},
        description=(
            "Only from a signed-in session: a request authenticated with an API token gets 403. The secret is in "
            "this response only; a replay of the request (same Idempotency-Key) says it was shown once."
        ),
    )
    def create(self, request):
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        via_token = request.auth if isinstance(request.auth, ApiToken) else None
        token, raw = services.api_token_create(user=request.user, via_token=via_token, **serializer.validated_data)
        data = ApiTokenSerializer(token).data | {"token": raw}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer, **error_responses(404)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = selectors.api_token_get(user=request.user, pk=pk)
        token = services.api_token_revoke(token=token, by=request.user)
        return Response(ApiTokenSerializer(token).data)


# --- invitations -------------------------------------------------------------------------------


class InvitationSerializer(serializers.ModelSerializer):
    organization_name = serializers.CharField(source="organization.name", read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)
    # A plain string: empty when the invitation names a username (an email-format schema would refuse "").
    email = serializers.CharField(read_only=True, help_text="The address invited; empty when invited by username.")

    class Meta:
        model = Invitation
        fields = [
            "id",
            "organization",
            "organization_name",
            "username",
            "email",
            "role",
            "status",
            "invited_by",
            "expires_at",
            "accepted_at",
            "declined_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    organization = serializers.UUIDField(
        required=False, allow_null=True, help_text="Needed when you own several organizations."
    )
    username = serializers.CharField(required=False, allow_blank=True, max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationAnswerSerializer(serializers.Serializer):
    token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The secret from the invitation email; needed only when your account's address is not the one "
        "invited.",
    )


class InvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Owners invite by username or email address; the invitee accepts or declines. No one joins unasked."""

    serializer_class = InvitationSerializer
    queryset = Invitation.objects.none()  # for the schema; requests use the scoped selectors
    filter_backends: list = []  # no filters, a fixed order

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        organization = resolve_for_field(
            selectors.organization_get,
            self.request,
            self.request.query_params.get("organization"),
            field="organization",
        )
        return selectors.invitation_list(user=self.request.user, organization=organization)

    @extend_schema(
        parameters=[OpenApiParameter("organization", str, description="Only this organization's invitations.")],
        description="The invitations of the organizations you own, newest first.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, **error_responses(400, 403, 409)},
        description=(
            "Invitation sent: the answer is the same whether or not the username or address has an account. "
            "The invitee gets the secret by email (when an address is known) and sees the invitation at "
            "GET /api/invitations/mine/."
        ),
    )
    def create(self, request):
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_for_create(request, data.get("organization"))
        invitation = services.invitation_create(
            organization=organization,
            by=request.user,
            role=data["role"],
            username=data.get("username", ""),
            email=data.get("email", ""),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: InvitationSerializer, **error_responses(403, 404, 409)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        invitation = selectors.invitation_get(user=request.user, pk=pk)
        invitation = services.invitation_revoke(invitation=invitation, by=request.user)
        return Response(InvitationSerializer(invitation).data)

    @extend_schema(responses={200: InvitationSerializer(many=True)}, description="Your pending invitations.")
    @action(detail=False, methods=["get"], pagination_class=None)
    def mine(self, request):
        return Response(InvitationSerializer(selectors.invitations_for_invitee(user=request.user), many=True).data)

    @extend_schema(
        request=InvitationAnswerSerializer,
        responses={200: MembershipSerializer, **error_responses(400, 404, 409)},
        description="You join the organization with the invitation's role. Only the invitee may accept.",
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        invitation = self._addressed_to_me(request, pk)
        membership = services.invitation_accept(invitation=invitation, by=request.user)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        request=InvitationAnswerSerializer, responses={200: InvitationSerializer, **error_responses(400, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        invitation = self._addressed_to_me(request, pk)
        invitation = services.invitation_decline(invitation=invitation, by=request.user)
        return Response(InvitationSerializer(invitation).data)

    def _addressed_to_me(self, request, pk) -> Invitation:
        serializer = InvitationAnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return selectors.invitation_get_for_invitee(
            user=request.user, pk=pk, token=serializer.validated_data.get("token")
        )
