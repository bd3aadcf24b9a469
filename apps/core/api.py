"""Shared pieces of every app's API."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "message": serializers.CharField(),
        "extra": serializers.DictField(help_text='Details; bad input has {"fields": {field: [messages]}}.'),
    },
)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid input; `extra.fields` names each bad field.",
        401: "Not authenticated, or the token is expired or revoked.",
        403: "Your role does not allow this; the message says which role is needed.",
        404: "Not found in your organizations.",
        409: "The object's current state does not allow this; the message says why.",
        422: "The request conflicts with an earlier one (e.g. a reused Idempotency-Key).",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions.get(code, "")) for code in codes}
