"""Strict input: a query parameter or a body field the operation does not declare is a 400 naming it.

A typo (`due_befor=`, `"amout": 5`) silently ignored gives a finance tool every row or a write without the value it
meant; Stripe answers such a request 400, and so do we. What an operation declares is what its OpenAPI schema says,
read from the same places the schema generator reads (apps/core/openapi.py documents the result):
- a list's query parameters: its filterset's filters, its ordering, search and pagination parameters, `format`, and
  the parameters its `@extend_schema` names (`StrictQueryParameters`, the first filter backend of every list);
- a JSON body's fields: the writable fields of the request serializer of the operation, nested serializers
  included (`unknown_body_fields`, called by the JSON parser, apps/core/parsers.py).
Fields of the operation's answer that a client echoes back (a GET's `id`, `created_at`) are known too, so they are
ignored as before, not refused.
"""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend
from rest_framework.settings import api_settings

from apps.core.errors import ValidationFailed


def _operation_schema(view, method: str):
    """The schema inspector of the view's current operation, with its @extend_schema overrides (as the generator)."""
    handler = getattr(view, getattr(view, "action", None) or method.lower(), None)
    schema_class = getattr(handler, "kwargs", {}).get("schema") or type(view.schema)
    schema = schema_class() if isinstance(schema_class, type) else schema_class
    schema.view = view
    schema.method = method.upper()
    return schema


def _as_serializer(candidate):
    if isinstance(candidate, type) and issubclass(candidate, serializers.BaseSerializer):
        return candidate()
    return candidate if isinstance(candidate, serializers.BaseSerializer) else None


# What a view's operation declares depends on its class, action and method only (filter sets, paginator and
# schema overrides are class attributes): worked out once per process, not on every request of a list.
_declared_by_operation: dict[tuple, frozenset[str]] = {}


def declared_query_parameters(view, request, queryset) -> frozenset[str]:
    operation = (type(view), getattr(view, "action", None), request.method)
    if operation not in _declared_by_operation:
        _declared_by_operation[operation] = frozenset(_declared_query_parameters(view, request, queryset))
    return _declared_by_operation[operation]


def _declared_query_parameters(view, request, queryset) -> set[str]:
    # `ordering` on a list of fixed order is refused by the paginator, with a better message than "unknown".
    names = {api_settings.URL_FORMAT_OVERRIDE, api_settings.ORDERING_PARAM}
    for backend_class in getattr(view, "filter_backends", []):
        backend = backend_class()
        if isinstance(backend, DjangoFilterBackend):
            filterset_class = backend.get_filterset_class(view, queryset)
            if filterset_class is not None:
                names |= _filterset_parameters(filterset_class(queryset=queryset, request=request))
        for attribute in ("ordering_param", "search_param"):
            if hasattr(backend, attribute):
                names.add(getattr(backend, attribute))
    paginator = getattr(view, "paginator", None)
    for attribute in ("cursor_query_param", "page_size_query_param", "page_query_param", "limit_query_param"):
        if getattr(paginator, attribute, None):
            names.add(getattr(paginator, attribute))
    if hasattr(view, "schema"):
        for parameter in _operation_schema(view, request.method).get_override_parameters():
            if isinstance(parameter, OpenApiParameter):
                if parameter.location == OpenApiParameter.QUERY:
                    names.add(parameter.name)
            elif (serializer := _as_serializer(parameter)) is not None:
                names |= set(serializer.fields)
    return names


def _filterset_parameters(filterset) -> set[str]:
    names = set()
    for name, bound in ((name, filterset.form[name]) for name in filterset.form.fields):
        suffixes = getattr(bound.field.widget, "widgets_names", None)
        names |= {f"{name}{suffix}" for suffix in suffixes} if suffixes else {name}
    return names


class StrictQueryParameters(BaseFilterBackend):
    """An unknown query parameter on a list is a 400 naming it and the parameters the list takes."""

    def filter_queryset(self, request, queryset, view):
        declared = declared_query_parameters(view, request, queryset)
        unknown = sorted(set(request.query_params) - declared)
        if unknown:
            known = ", ".join(sorted(declared))
            raise ValidationFailed.for_fields(
                dict.fromkeys(unknown, f"Unknown query parameter. This list takes: {known}."),
                f"Unknown query parameter {', '.join(repr(name) for name in unknown)}. This list takes: {known}.",
            )
        return queryset


def operation_serializers(view, method: str):
    """(request, response) serializers the operation's schema declares; None where there is none (or not a form)."""
    if not hasattr(view, "schema") or getattr(view, "swagger_fake_view", False):
        return None, None
    try:
        schema = _operation_schema(view, method)
        declared, answers = schema.get_request_serializer(), schema.get_response_serializers()
    except Exception:  # a view whose serializer needs a request attribute it has not got: nothing declared
        return None, None
    if isinstance(declared, dict):
        declared = declared.get("application/json")
    if isinstance(answers, dict):
        answers = next((answer for code, answer in answers.items() if str(code).startswith("2")), None)
    return _as_serializer(declared), _as_serializer(answers)


def unknown_fields(serializer, data, prefix: str = "") -> list[str]:
    """The dotted names of the keys of `data` that `serializer` has no field for, nested serializers included."""
    if isinstance(serializer, serializers.ListSerializer):
        items = data if isinstance(data, list) else []
        child = serializer.child
        flat = isinstance(child, serializers.Serializer) and not any(
            isinstance(field, serializers.BaseSerializer) and not field.read_only for field in child.fields.values()
        )
        # An item of a flat child whose keys are all fields needs no walk: one set comparison (an ingest batch has
        # thousands of samples).
        known = set(child.fields) if flat else set()
        return [
            name
            for n, item in enumerate(items)
            if not (flat and isinstance(item, dict) and item.keys() <= known)
            for name in unknown_fields(child, item, f"{prefix}{n}.")
        ]
    if not isinstance(serializer, serializers.Serializer) or not isinstance(data, dict):
        return []
    fields = serializer.fields
    found = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            found.append(f"{prefix}{key}")
        elif isinstance(field, serializers.BaseSerializer) and not field.read_only:
            found += unknown_fields(field, value, f"{prefix}{key}.")
    return found


def refuse_unknown_body_fields(view, method: str, data) -> None:
    serializer, answer = operation_serializers(view, method) if view is not None else (None, None)
    if serializer is None:
        return
    # What the operation answers may come back unchanged (a GET's body, edited and PATCHed): those names are known.
    echoed = set(getattr(answer, "fields", {})) if not isinstance(answer, serializers.ListSerializer) else set()
    unknown = [name for name in unknown_fields(serializer, data) if name not in echoed]
    if unknown:
        known = ", ".join(name for name, field in serializer.fields.items() if not field.read_only)
        raise ValidationFailed.for_fields(
            dict.fromkeys(unknown, f"Unknown field. This request takes: {known}."),
            f"Unknown field {', '.join(repr(name) for name in unknown)}. This request takes: {known}.",
        )
