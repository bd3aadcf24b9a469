import datetime as dt
import json
import secrets
import uuid
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.canonical import normalize
from apps.core.egress import (
    ResponseTooLarge,
    egress_session,
    failure_text,
    http_status_text,
    url_origin,
    url_refusal,
)
from apps.core.errors import ValidationFailed
from apps.core.outbox import outbox_nudge
from apps.tenancy.models import Role
from apps.tenancy.permissions import role_in
from apps.tenancy.services import require
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

WEBHOOK_ADMIN_ROLES = {Role.OWNER, Role.FINANCE}
WEBHOOK_ANSWER_MAX_BYTES = 64 * 1024  # only the status of a receiver's answer is used


def _clean_endpoint(url: str, events: list[str]) -> tuple[str, list[str]]:
    parsed = urlparse(url or "")
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise ValidationFailed.for_field("url", "Give an absolute http(s) URL.")
    if parsed.scheme == "http" and not settings.WEBHOOKS_ALLOW_HTTP:
        raise ValidationFailed.for_field("url", "Webhook receivers must use https.")
    refusal = url_refusal(url)
    if refusal:
        raise ValidationFailed.for_field("url", refusal)
    unknown = [event for event in events if event not in WebhookEvent.values]
    if unknown:
        raise ValidationFailed.for_field("events", f"Unknown event types: {', '.join(unknown)}.")
    return url, sorted(set(events))


def webhook_endpoint_create(*, organization, by, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    require(role_in(by, organization, WEBHOOK_ADMIN_ROLES, "manage webhooks"))
    url, events = _clean_endpoint(url, events)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            events=events,
            description=description,
            secret=_new_secret(),
        )
        audit_record(
            action="webhook.created",
            actor=by,
            organization=organization,
            obj=endpoint,
            after={"url": url, "events": events},
        )
    return endpoint


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, by, **changes) -> tuple[WebhookEndpoint, bool]:
    """Updates an endpoint; returns it and whether its secret was renewed.

    A URL that moves to another origin (scheme, host, port) gets a new signing secret, shown once in the answer:
    the new host never receives deliveries signed with the secret the old receiver trusts.
    """
    require(role_in(by, endpoint.organization, WEBHOOK_ADMIN_ROLES, "manage webhooks"))
    url, events = _clean_endpoint(changes.get("url", endpoint.url), changes.get("events", endpoint.events))
    fields = ["url", "events", "description", "is_active"]
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = snapshot(endpoint, fields)
        renewed = url_origin(url) != url_origin(endpoint.url)
        endpoint.url, endpoint.events = url, events
        endpoint.description = changes.get("description", endpoint.description)
        endpoint.is_active = changes.get("is_active", endpoint.is_active)
        if renewed:
            endpoint.secret = _new_secret()
        endpoint.save(update_fields=[*fields, "secret", "updated_at"])
        old, new = changed_fields(before, snapshot(endpoint, fields))
        if renewed:
            new["secret"] = "renewed"  # noqa: S105 - a note for the audit trail, not a secret
        audit_record(
            action="webhook.updated", actor=by, organization=endpoint.organization, obj=endpoint, before=old, after=new
        )
    return endpoint, renewed


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, by) -> None:
    require(role_in(by, endpoint.organization, WEBHOOK_ADMIN_ROLES, "manage webhooks"))
    with transaction.atomic():
        # The row before the audit chain head (docs/controls.md, lock order): an update of the same endpoint takes
        # them in that order too, so the two never deadlock; a concurrent delete leaves nothing to lock (404).
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        audit_record(
            action="webhook.deleted",
            actor=by,
            organization=endpoint.organization,
            obj=endpoint,
            before={"url": endpoint.url},
        )
        endpoint.delete()


def webhook_emit(*, organization, event_type: str, data: dict) -> list[WebhookDelivery]:
    """Queues the event for every endpoint of the organization that wants it, in the caller's transaction.

    The deliveries are rows first (so nothing is lost if the broker is down): after commit each is nudged to a
    worker, and webhook_sweep sends any whose nudge did not reach one.
    """
    from apps.webhooks.tasks import webhook_deliver

    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "created_at": timezone.now(),
        "organization": str(organization.pk),
        "data": data,
    }
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(organization=organization, is_active=True) if e.wants(event_type)
    ]
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization=organization,
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                payload=normalize(payload),
                next_attempt_at=timezone.now(),
            )
            for endpoint in endpoints
        ]
    )
    for delivery in deliveries:
        outbox_nudge(webhook_deliver, str(delivery.pk))
    return deliveries


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff: 30 s, 1 min, 2 min ... capped at 6 h."""
    return dt.timedelta(seconds=min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 6 * 3600))


def webhook_delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """Sends one delivery if it is still due. Safe to call twice: a delivered or locked row is left alone, and so is
    one whose retry time has not come (the nudge and the sweep may both have queued it)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .first()
        )
        if delivery is None:
            return None
        body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
        timestamp = int(timezone.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "govtrack-webhooks/1",
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.pk),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(delivery.endpoint.secret, timestamp, body),
        }
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        try:
            # Through the egress gate; the receiver's answer body is never stored (status and a classified error).
            with egress_session(max_response_bytes=WEBHOOK_ANSWER_MAX_BYTES) as session:
                response = session.post(
                    delivery.endpoint.url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
                )
        except ResponseTooLarge as exc:
            response = exc.response  # the status is what counts; the receiver's long answer is not needed
        except requests.RequestException as exc:
            response = None
            delivery.last_error = failure_text(exc)
        if response is not None:
            delivery.last_error = "" if 200 <= response.status_code < 300 else http_status_text(response.status_code)
        delivery.last_status_code = getattr(response, "status_code", None)
        ok = response is not None and 200 <= response.status_code < 300
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED,
                timezone.now(),
                None,
            )
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.save()
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery, by) -> WebhookDelivery:
    """Sends an event again (after a receiver fixed its side): back to pending, attempts counted on."""
    from apps.webhooks.tasks import webhook_deliver

    require(role_in(by, delivery.organization, WEBHOOK_ADMIN_ROLES, "redeliver webhooks"))
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        before = {"status": delivery.status}
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at", "updated_at"])
        audit_record(
            action="webhook.redelivered",
            actor=by,
            organization=delivery.organization,
            obj=delivery,
            before=before,
            after={"status": delivery.status},
        )
        outbox_nudge(webhook_deliver, str(delivery.pk))
    return delivery


def webhook_due_delivery_ids(limit: int = 500) -> list[str]:
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
    return [str(pk) for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]]
