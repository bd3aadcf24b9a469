"""DRF exception handler: every API error has the shape {"message", "extra": {"fields": ...}}."""

import logging

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.context import current_request_id
from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _messages(detail, prefix: str = "") -> list[str]:
    """All messages under one field; nested items say where they are ("item 2: ...", "metric: ...")."""
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            where = f"item {key}" if str(key).isdigit() else str(key)
            found.extend(_messages(value, f"{prefix}{where}: "))
        return found
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item, prefix)]
    return [f"{prefix}{detail}"]


def _field_messages(detail) -> dict[str, list[str]]:
    return {str(field): _messages(value) for field, value in detail.items()}


def _first_message(fields: dict) -> str:
    for name, messages in fields.items():
        if messages:
            prefix = "" if name in {"non_field_errors", "__all__"} else f"{name}: "
            return f"{prefix}{messages[0]}"
    return "Invalid input."


def error_body(message: str, extra: dict | None = None) -> dict:
    return {"message": message, "extra": extra or {}}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.extra), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # Django raises it when a form or multipart body passes DATA_UPLOAD_MAX_MEMORY_SIZE.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(error_body(f"The request body is larger than {limit} bytes.", {"max_bytes": limit}), status=413)
    if isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, a malformed multipart body: the request is refused, not the server.
        logger.warning("Refused a suspicious request: %s", exc)
        return Response(error_body(f"The request was refused: {exc}"), status=400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(_first_message(fields), {"fields": fields}), status=400)
    # A row gone between the view's lookup and the service's lock (a concurrent delete) is not found, not a crash.
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in API view", exc_info=exc)
        return Response(
            error_body("Internal error. Quote the request id to support.", {"request_id": current_request_id()}),
            status=500,
        )
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        fields = _field_messages(detail if isinstance(detail, dict) else {"non_field_errors": detail})
        response.data = error_body(_first_message(fields), {"fields": fields})
    else:
        response.data = error_body(str(getattr(exc, "detail", exc)))
    return response
