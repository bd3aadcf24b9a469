"""DRF exception handler: every API error has the shape {"message", "extra": {"fields": ...}}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.context import current_request_id
from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _flatten_detail(detail) -> list[str] | dict:
    if isinstance(detail, dict):
        return {str(key): _flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat: list = []
        for item in detail:
            value = _flatten_detail(item)
            if isinstance(value, list):
                flat.extend(value)
            else:
                flat.append(value)
        return flat
    return [str(detail)]


def _first_message(fields: dict) -> str:
    for name, messages in fields.items():
        if isinstance(messages, dict):
            return _first_message(messages)
        if messages:
            prefix = "" if name in {"non_field_errors", "__all__"} else f"{name}: "
            return f"{prefix}{messages[0]}"
    return "Invalid input."


def error_body(message: str, extra: dict | None = None) -> dict:
    return {"message": message, "extra": extra or {}}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(_first_message(fields), {"fields": fields}), status=400)
    if isinstance(exc, Http404):
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
        fields = _flatten_detail(detail if isinstance(detail, dict) else {"non_field_errors": detail})
        response.data = error_body(_first_message(fields), {"fields": fields})
    else:
        response.data = error_body(str(getattr(exc, "detail", exc)))
    return response
