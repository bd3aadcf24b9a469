from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import SelectorViewSetMixin, error_responses, field_help, organization_for_create
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), read_only=True, help_text="Empty: every event."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "organization", "url", "description", "events", "is_active", "created_at"]
        extra_kwargs = field_help(
            fields,
            url="Where deliveries are POSTed: an https URL on the public internet (internal addresses are refused).",
            description="Free text for people: which tool receives it.",
            is_active="Whether events are delivered to it now; an inactive endpoint receives nothing.",
        )


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
        extra_kwargs = field_help(
            fields,
            endpoint="The webhook endpoint it is sent to.",
            event_id="The event's id: the same for every endpoint receiving this event; receivers dedupe on it.",
            event_type="What happened (milestone.verified, milestone.released, ...); the `type` of the payload.",
            status="pending (to be sent or retried), delivered (a 2xx answer) or failed (attempts used up).",
            attempts="How many times it was sent so far (at most WEBHOOK_MAX_ATTEMPTS, 10 by default).",
            next_attempt_at="When it is sent again (UTC), or null when delivered or failed.",
            last_attempt_at="When it was last sent (UTC), or null.",
            last_status_code="The HTTP status your endpoint answered last time, or null (no answer).",
            last_error="Why the last attempt failed, in a sentence (never your endpoint's body).",
            delivered_at="When your endpoint answered 2xx (UTC), or null.",
            created_at="When the delivery was queued, right after the event, in UTC.",
        )


class WebhookDeliveryFilter(filters.FilterSet):
    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "status", "event_type"]


WEBHOOK_CREATE_DESCRIPTION = """Registers a URL that receives the organization's events, and answers the signing secret
(`whsec_…`) once: keep it in your secret store.

Each delivery is a POST of the event as JSON with two headers: `X-Govtrack-Timestamp` (Unix seconds) and
`X-Govtrack-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>`. Verify it on the raw body, before
parsing, and refuse a timestamp older than five minutes (a replay):

```python
import hashlib, hmac, time


def verified(secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(f"v1={expected}", signature)
```

Answer 2xx quickly; anything else is retried with backoff. Dedupe on the event's `id`: a retried event keeps it.
`GET /api/v1/webhook-deliveries/` is the delivery log (docs/webhooks.md)."""
WEBHOOK_CREATE_EXAMPLE = OpenApiExample(
    "Register an endpoint",
    value={"url": "https://tool.example.com/govtrack", "events": ["milestone.verified", "milestone.released"]},
    request_only=True,
)
WEBHOOK_CREATED_EXAMPLE = OpenApiExample(
    "The endpoint and its signing secret, shown once",
    value={
        "id": "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
        "organization": "c7a8b9d0-1e2f-4a3b-9c4d-5e6f7a8b9c0d",
        "url": "https://tool.example.com/govtrack",
        "description": "",
        "events": ["milestone.verified", "milestone.released"],
        "is_active": True,
        "created_at": "2026-07-01T09:00:00.000000Z",
        "secret": "whsec_3q2-7wE…",
    },
    response_only=True,
    status_codes=["201"],
)


class WebhookEndpointViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Receivers of signed events (X-Govtrack-Signature: v1=HMAC-SHA256(secret, "<timestamp>.<body>"))."""

    queryset = WebhookEndpoint.objects.none()
    serializer_class = WebhookEndpointSerializer
    filter_backends: list = []  # no filters, a fixed order
    list_selector, get_selector = selectors.webhook_endpoint_list, selectors.webhook_endpoint_get

    @extend_schema(
        request=WebhookEndpointInput,
        responses={201: WebhookEndpointCreatedSerializer, **error_responses(400, 403)},
        summary="Register a webhook endpoint",
        description=WEBHOOK_CREATE_DESCRIPTION,
        examples=[WEBHOOK_CREATE_EXAMPLE, WEBHOOK_CREATED_EXAMPLE],
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
