"""Strict input: a query parameter or a body field the operation does not declare is a 400 naming it.

A typo (`due_befor=`, `"amout": 5`) silently ignored gives a finance tool every row or a write without the value it
meant; Stripe answers such a request 400, and so do we. What an operation declares is what its OpenAPI schema says,
read from the same places the schema generator reads (apps/core/openapi.py documents the result):
- a GET's query parameters: `format`, the parameters its `@extend_schema` names, and on a list its filterset's
  filters, its ordering, search and pagination parameters (`KnownQueryParameters`, checked on every GET, list,
  detail or custom action alike, right after authentication and the other permission checks);
- a JSON body's fields: the writable fields of the request serializer of the operation, nested serializers
  included (`unknown_body_fields`, called by the JSON parser, apps/core/parsers.py).
Fields of the operation's answer that a client echoes back (a GET's `id`, `created_at`) are known too, so they are
ignored as before, not refused.
"""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings

from apps.core.errors import ValidationFailed


def _operation_schema(view, method: str):
    """The schema inspector of the view's current operation, with its @extend_schema overrides (as the generator)."""
    handler = getattr(view, getattr(view, "action", None) or method.lower(), None)
    schema_class = getattr(handler, "kwargs", {}).get("schema") or type(view.schema)
    schema = schema_class() if isinstance(schema_class, type) else schema_class
    schema.view = view
    schema.method = method.upper()
    schema.path = ""  # the generator's path template; a view with no action is a list only by its class then
    return schema


def _as_serializer(candidate):
    if isinstance(candidate, type) and issubclass(candidate, serializers.BaseSerializer):
        return candidate()
    return candidate if isinstance(candidate, serializers.BaseSerializer) else None


def _is_list(schema) -> bool:
    """Whether the schema generator documents the operation as a list (with its filter and pagination parameters)."""
    try:
        return schema._is_list_view()
    except Exception:  # a view whose serializer needs a request attribute it has not got: not a list
        return False


# What a view's operation declares depends on its class, action and method only (filter sets, paginator and
# schema overrides are class attributes): worked out once per process, not on every request.
_declared_by_operation: dict[tuple, tuple[frozenset[str], bool]] = {}


def declared_query_parameters(view, request) -> tuple[frozenset[str], bool]:
    """The query parameters the operation's schema declares (`format` everywhere, as content negotiation reads it),
    and whether the operation is a list."""
    operation = (type(view), getattr(view, "action", None), request.method)
    if operation not in _declared_by_operation:
        names, is_list = _declared_query_parameters(view, request)
        _declared_by_operation[operation] = (frozenset(names), is_list)
    return _declared_by_operation[operation]


def _declared_query_parameters(view, request) -> tuple[set[str], bool]:
    names = {api_settings.URL_FORMAT_OVERRIDE}
    schema = _operation_schema(view, request.method)
    is_list = _is_list(schema)
    if is_list:
        queryset = view.get_queryset()
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
    for parameter in schema.get_override_parameters():
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY:
                names.add(parameter.name)
        elif (serializer := _as_serializer(parameter)) is not None:
            names |= set(serializer.fields)
    return names, is_list


def _filterset_parameters(filterset) -> set[str]:
    names = set()
    for name, bound in ((name, filterset.form[name]) for name in filterset.form.fields):
        suffixes = getattr(bound.field.widget, "widgets_names", None)
        names |= {f"{name}{suffix}" for suffix in suffixes} if suffixes else {name}
    return names


class KnownQueryParameters(BasePermission):
    """An unknown query parameter on a GET is a 400 naming it and the parameters the operation takes.

    A permission check because it is the one step DRF runs on every view, list or not, after authentication and
    before the handler (REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"], last); it refuses with a 400, never a 403.
    """

    def has_permission(self, request, view) -> bool:
        if request.method not in ("GET", "HEAD") or not hasattr(view, "schema"):
            return True
        if not hasattr(view, "get"):  # a GET of an operation that takes none: DRF answers it 405 after this check
            return True
        declared, is_list = declared_query_parameters(view, request)
        # `ordering` on a list of fixed order is refused by the paginator, with a better message than "unknown".
        answered_elsewhere = {api_settings.ORDERING_PARAM} if is_list else set()
        unknown = sorted(set(request.query_params) - declared - answered_elsewhere)
        if unknown:
            takes = "This list takes" if is_list else "This operation takes"
            known = ", ".join(sorted(declared))
            raise ValidationFailed.for_fields(
                dict.fromkeys(unknown, f"Unknown query parameter. {takes}: {known}."),
                f"Unknown query parameter {', '.join(repr(name) for name in unknown)}. {takes}: {known}.",
            )
        return True


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
