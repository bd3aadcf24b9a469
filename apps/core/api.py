"""Shared pieces of every app's API."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from apps.core.errors import NotFound, ValidationFailed

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "message": serializers.CharField(),
        "extra": serializers.DictField(help_text='Details; bad input has {"fields": {field: [messages]}}.'),
    },
)


# What the fields every object has mean, wherever they appear (`field_help`).
COMMON_FIELD_HELP = {
    "id": "The object's id (a UUID); the `{id}` of its paths.",
    "organization": "The organization it belongs to (a UUID, one of yours: see `GET /api/v1/me/`).",
    "currency": "ISO-4217 code of its amounts (EUR, USD); every amount of the object is in it.",
    "status_reason": "Why it is in its status, as given with the last state change (empty if none was given).",
    "created_at": "When it was recorded, in UTC (ISO 8601).",
    "updated_at": "When it last changed, in UTC (ISO 8601).",
    "note": "Free text for people; never read by govtrack.",
    "description": "Free text for people: what it is about.",
}


def field_help(fields, **specific: str) -> dict[str, dict[str, str]]:
    """A ModelSerializer's `extra_kwargs` giving each of its `fields` a help_text: the common meaning of `id`,
    `organization`, `created_at`... (COMMON_FIELD_HELP) unless `specific` says what it means here."""
    texts = COMMON_FIELD_HELP | specific
    return {name: {"help_text": texts[name]} for name in fields if name in texts}


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


class ActionStateSerializer(serializers.Serializer):
    """One entry of a detail's `allowed_actions`, read from the object's state machine (apps/core/transitions.py)."""

    action = serializers.CharField(help_text="The action's name: POST .../{id}/<action with - for _>/.")
    label = serializers.CharField()
    allowed = serializers.BooleanField(help_text="Whether you may take it now.")
    reason = serializers.CharField(help_text="Why not, when not allowed (your role, separation of duties, a guard).")


class ReasonSerializer(serializers.Serializer):
    """The body of a transition whose reason is optional: kept in the audit trail with the change."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def actions_data(machine, obj, context) -> list[dict]:
    """The actions of `obj`'s current state for the request's user, each allowed or with the reason it is not."""
    request = (context or {}).get("request")
    user = getattr(request, "user", None)
    return [action.as_dict() for action in machine.actions_for(obj, user)] if user is not None else []


def organization_for_create(request, value, *, field: str = "organization"):
    """The organization a new row goes to: the one named (it must be one of the user's), or the user's only one."""
    from apps.tenancy.selectors import organization_get, organization_list  # tenancy builds on core

    if value in (None, ""):
        organizations = list(organization_list(user=request.user)[:2])
        if len(organizations) == 1:
            return organizations[0]
        if not organizations:
            raise ValidationFailed.for_field(field, "You are not a member of any organization.")
        raise ValidationFailed.for_field(field, "Name the organization (you belong to several).")
    try:
        return organization_get(user=request.user, pk=value)
    except NotFound:
        raise ValidationFailed.for_field(field, "Unknown organization.") from None


def resolve_for_field(selector, request, pk, *, field: str):
    """An id in a request body, looked up in the user's organizations; unknown ids are a 400 naming the field."""
    if pk in (None, ""):
        return None
    try:
        return selector(user=request.user, pk=pk)
    except NotFound:
        raise ValidationFailed.for_field(field, "Unknown in your organizations.") from None


class SelectorViewSetMixin:
    """Viewsets read through their app's selectors: `list_selector(user=)` and `get_selector(user=, pk=)`.

    `queryset` stays set (to `Model.objects.none()`) only so the schema generator knows the model.
    """

    list_selector = None
    get_selector = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return type(self).list_selector(user=self.request.user)

    def get_object(self):
        selector = type(self).get_selector
        obj = selector(user=self.request.user, pk=self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        self.check_object_permissions(self.request, obj)
        return obj
