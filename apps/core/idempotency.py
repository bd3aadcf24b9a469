"""`Idempotency-Key` on every API POST: the same key and body give the same response and no second write.

The request runs in one transaction with the insertion of the key's row, so two requests with one key never both
write: the second waits on the unique index, then replays what the first stored. The same key with a different
body is a 422. Responses of 5xx are not stored, so a retry after a server error runs again. Keys are kept for
IDEMPOTENCY_KEY_TTL_HOURS (a beat task forgets older ones).

A record keeps the SHA-256 of the request and the response with every secret taken out: a secret (an API token,
a device token, a webhook signing secret, an invitation secret) is shown once, in the first response, and a replay
answers with the same status and a note in its place.
"""

import datetime as dt
import hashlib
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from apps.core.exceptions import error_body
from apps.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

# The secrets govtrack hands out, by their public prefixes: gt_ API tokens, gtd_ device tokens, gti_ invitations
# (apps/tenancy, apps/compute), whsec_ webhook signing secrets (apps/webhooks). 20+ characters: names stay.
SECRET_PATTERN = re.compile(rb"(?:gtd?_[0-9a-f]{8}_|gti_|whsec_)[A-Za-z0-9_-]{20,}")
SECRET_SHOWN_ONCE = b"(secret shown once, in the first response to this request; it is not stored)"


def redact_secrets(body: bytes) -> bytes:
    """The body with each secret replaced by a note (plain text, so a JSON string stays a valid JSON string)."""
    return SECRET_PATTERN.sub(SECRET_SHOWN_ONCE, bytes(body))


def _principal(request) -> str | None:
    from apps.tenancy.authentication import ApiTokenAuthentication

    try:
        authenticated = ApiTokenAuthentication().authenticate(request)
    except Exception:  # an invalid token: the view itself answers 401
        return None
    if authenticated is not None:
        return f"user:{authenticated[0].pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.get_full_path().encode() + b"\n")
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        # A large upload is not read into memory here: its path, size and media type stand for it.
        digest.update(f"{length} {request.content_type}".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    # Redacted again on the way out: a record stored before redaction existed never replays a secret either.
    body = redact_secrets(record.body)
    response = HttpResponse(body, status=record.status_code, content_type=record.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyKeyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > MAX_KEY_LENGTH:
            return JsonResponse(
                error_body(f"{HEADER} is at most {MAX_KEY_LENGTH} characters.", {"fields": {HEADER: ["Too long."]}}),
                status=400,
            )
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)
        fingerprint = _fingerprint(request)

        with transaction.atomic():
            try:
                with transaction.atomic():
                    # Waits here while a request with the same key is in flight, then fails on the unique index.
                    record = IdempotencyRecord.objects.create(principal=principal, key=key, fingerprint=fingerprint)
            except IntegrityError:
                record = None
            if record is not None:
                response = self.get_response(request)
                if response.status_code >= 500 or getattr(response, "streaming", False):
                    # Not stored: the key is rolled back with the view's writes, so a retry runs again.
                    transaction.set_rollback(True)
                    return response
                record.status_code = response.status_code
                record.content_type = response.get("Content-Type", "")
                record.body = redact_secrets(response.content)
                record.save(update_fields=["status_code", "content_type", "body"])
                return response
        existing = IdempotencyRecord.objects.get(principal=principal, key=key)
        if existing.fingerprint != fingerprint:
            return JsonResponse(
                error_body(
                    f"This {HEADER} was used for a different request; use a new key for a new request.",
                    {"fields": {HEADER: ["Reused with a different request body or path."]}},
                ),
                status=422,
            )
        return _replay(existing)


def idempotency_forget_expired() -> int:
    cutoff = timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
