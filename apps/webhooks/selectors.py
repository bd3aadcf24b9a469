from django.db.models import QuerySet

from apps.tenancy.scoping import get_scoped, scope_to_user
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, user) -> QuerySet:
    return scope_to_user(WebhookEndpoint.objects.all(), user=user)


def webhook_endpoint_get(*, user, pk) -> WebhookEndpoint:
    return get_scoped(WebhookEndpoint.objects.select_related("organization"), user=user, pk=pk)


def webhook_delivery_list(*, user) -> QuerySet:
    return scope_to_user(WebhookDelivery.objects.select_related("endpoint"), user=user)


def webhook_delivery_get(*, user, pk) -> WebhookDelivery:
    return get_scoped(WebhookDelivery.objects.select_related("endpoint", "organization"), user=user, pk=pk)
