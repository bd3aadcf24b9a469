"""Proof links over the API: list the organization's, create one for a released milestone, revoke one."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import SelectorViewSetMixin, error_responses
from apps.core.errors import NotFound, ValidationFailed
from apps.funding.selectors import milestone_get
from apps.proofs import selectors, services
from apps.proofs.models import ProofLink


class ProofLinkSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The proof page: anyone holding this address sees it.")
    is_active = serializers.BooleanField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revoked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ProofLink
        fields = [
            "id",
            "organization",
            "milestone",
            "url",
            "is_active",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "report_data_sha256",
            "report_generated_at",
        ]
        read_only_fields = fields

    def get_url(self, link) -> str:
        return selectors.proof_url(link)


class ProofLinkInput(serializers.Serializer):
    milestone = serializers.UUIDField(help_text="A released milestone of one of your organizations.")


class ProofLinkFilter(filters.FilterSet):
    class Meta:
        model = ProofLink
        fields = ["milestone"]


class ProofLinkViewSet(SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Revocable links to a released milestone's public proof page (owner or finance create and revoke them)."""

    queryset = ProofLink.objects.none()
    serializer_class = ProofLinkSerializer
    filterset_class = ProofLinkFilter
    list_selector, get_selector = selectors.proof_link_list, selectors.proof_link_get

    @extend_schema(request=ProofLinkInput, responses={201: ProofLinkSerializer, **error_responses(400, 403, 409)})
    def create(self, request):
        serializer = ProofLinkInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            milestone = milestone_get(user=request.user, pk=serializer.validated_data["milestone"])
        except NotFound:
            raise ValidationFailed.for_field("milestone", "Unknown milestone.") from None
        link = services.proof_link_create(milestone=milestone, by=request.user)
        return Response(ProofLinkSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ProofLinkSerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        link = services.proof_link_revoke(link=self.get_object(), by=request.user)
        return Response(ProofLinkSerializer(link).data)
