from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import SelectorViewSetMixin, error_responses, organization_for_create
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), read_only=True, help_text="Empty: every event."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "organization", "url", "description", "events", "is_active", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="Signs every delivery (HMAC-SHA256). Shown once; keep it.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointUpdatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="The new signing secret when the URL moved to another origin (shown once); else null.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        required=False,
        default=list,
        help_text="Empty: every event.",
    )
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.DictField(read_only=True, help_text="The event exactly as it was signed and sent.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
        ]


class WebhookDeliveryFilter(filters.FilterSet):
    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "status", "event_type"]


class WebhookEndpointViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Receivers of signed events (X-Govtrack-Signature: v1=HMAC-SHA256(secret, "<timestamp>.<body>"))."""

    queryset = WebhookEndpoint.objects.none()
    serializer_class = WebhookEndpointSerializer
    filter_backends: list = []  # no filters, a fixed order
    list_selector, get_selector = selectors.webhook_endpoint_list, selectors.webhook_endpoint_get

    @extend_schema(
        request=WebhookEndpointInput, responses={201: WebhookEndpointCreatedSerializer, **error_responses(400, 403)}
    )
    def create(self, request):
        serializer = WebhookEndpointInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_for_create(request, data.pop("organization", None))
        data.pop("is_active")
        endpoint = services.webhook_endpoint_create(organization=organization, by=request.user, **data)
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=WebhookEndpointInput,
        responses={200: WebhookEndpointUpdatedSerializer, **error_responses(400, 403, 404)},
        description="A URL moved to another scheme, host or port gets a new signing secret, shown once here.",
    )
    def partial_update(self, request, pk=None):
        serializer = WebhookEndpointInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        endpoint, renewed = services.webhook_endpoint_update(endpoint=self.get_object(), by=request.user, **data)
        shown = WebhookEndpointSerializer(endpoint).data
        return Response({**shown, "secret": endpoint.secret if renewed else None})

    @extend_schema(responses={204: None, **error_responses(403, 404)})
    def destroy(self, request, pk=None):
        services.webhook_endpoint_delete(endpoint=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log: every attempt's outcome; redeliver sends an event again."""

    queryset = WebhookDelivery.objects.none()
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    list_selector, get_selector = selectors.webhook_delivery_list, selectors.webhook_delivery_get

    @extend_schema(request=None, responses={200: WebhookDeliverySerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.webhook_redeliver(delivery=self.get_object(), by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data)
