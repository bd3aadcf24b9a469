"""The OpenAPI document's shared parts, applied once to every operation (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).

Each rule below is true of every API view because one piece of apps/core makes it so, so it is declared here once
rather than on each view:
- errors: one `Error` shape (apps/core/exceptions.py) for 400, 401, 403, 404, 413, 422 and 429 wherever they can
  occur; 429 with `Retry-After` (apps/core/throttling.py);
- rate limits: `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every answer of an operation its
  throttles count, and 429 only there (apps/core/throttling.py; the device ingest is not rate limited);
- headers: `X-Request-ID` on every answer (apps/core/middleware.py), `Idempotency-Key` on every POST and
  `Idempotent-Replayed` on its replays (apps/core/idempotency.py);
- media types: a CSV answer (`?format=csv`, apps/core/tabular.py) is text, never the JSON page;
- parameters: a non-GET operation takes its input in the body, so it declares no query parameters; a query
  parameter's choices are a shared enum component (`MilestoneStatusEnum`), never one model per operation;
- every operation has a summary (from its view's docstring or else from its method and path);
- descriptions: a request body's field without its own description means what the answer's field of the same name
  means, and says so (`MilestoneInputRequest.amount` is `Milestone.amount`).
"""

import re
from collections import Counter

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.extensions import OpenApiSerializerFieldExtension

ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `extra.fields` names each bad field or query parameter.",
    "401": "Not authenticated, or the token is expired or revoked.",
    "403": "Your role or your token's scope does not allow this; the message says which role is needed.",
    "404": "Not found in your organizations.",
    "409": "The object's current state does not allow this; the message says why.",
    "413": "The request body is larger than the limit (`extra.max_bytes`).",
    "422": "The Idempotency-Key was used before for a different request.",
    "429": "Too many requests: wait `Retry-After` seconds and retry.",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API has this shape (docs/api.md, Errors).",
    "properties": {
        "message": {"type": "string", "description": "What went wrong, in a sentence a person can read."},
        "extra": {
            "type": "object",
            "description": "Details, by kind of error.",
            "properties": {
                "fields": {
                    "type": "object",
                    "description": "Bad input: each field or query parameter with its messages.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
                "request_id": {"type": "string", "description": "On a 500: quote it to support."},
                "max_bytes": {"type": "integer", "description": "On a 413: the largest body accepted."},
            },
            "additionalProperties": True,
        },
    },
    "required": ["message", "extra"],
}
REQUEST_ID_HEADER = {
    "description": "The request's id (yours when well-formed, else a new one); the audit events it wrote carry it.",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key of your choosing (at most 255 characters): the same key and body answer the first response again "
        "(`Idempotent-Replayed: true`) instead of writing twice; the same key with another body is a 422."
    ),
    "schema": {"type": "string", "maxLength": 255},
}
REPLAYED_HEADER = {
    "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER_HEADER = {"description": "Seconds to wait before the next request.", "schema": {"type": "integer"}}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {
        "description": "Requests allowed per window in the rate-limit scope closest to its limit (per token, per user "
        "or per address); sent on every answer the limit counted.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window of that scope; 0 on a 429.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until that window ends and `RateLimit-Remaining` is back to `RateLimit-Limit`.",
        "schema": {"type": "integer", "minimum": 1},
    },
}
CSV_SCHEMA = {"type": "string", "description": "CSV text: a header line, then one line per row (docs/api.md)."}
WRITE_METHODS = ("post", "put", "patch", "delete")
# Docstrings of shared base classes, which a viewset without its own docstring inherits: not about the operation.
INHERITED_DESCRIPTIONS = ("Viewsets read through their app's selectors",)
ACTION_VERBS = {"get": "Get", "post": "Create", "put": "Replace", "patch": "Update", "delete": "Delete"}


def current_version_only(endpoints, **kwargs):
    """The schema describes /api/v1/; the unversioned aliases answer the same and are documented as deprecated."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def postprocess(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    result["components"].setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
    for component in schemas.values():
        for prop in (component.get("properties") or {}).values():
            if prop.get("description", "").startswith("Deprecated"):
                prop["deprecated"] = True
    enums = _EnumComponents(schemas)
    throttled = _throttled_operations(generator)
    operations = [
        (path, method, operation)
        for path, item in result.get("paths", {}).items()
        for method, operation in item.items()
        if method in ("get", *WRITE_METHODS)
    ]
    # A viewset's docstring is every one of its operations' description: a summary only where it is the operation's own.
    for _, _, operation in operations:
        if operation.get("description", "").startswith(INHERITED_DESCRIPTIONS):
            del operation["description"]
    for _, _, operation in operations:
        _describe_input_fields(operation, schemas)
    descriptions = Counter(operation.get("description", "") for _, _, operation in operations)
    for path, method, operation in operations:
        own = descriptions[operation.get("description", "")] == 1
        _operation(path, method, operation, enums, own_description=own, throttled=(path, method) in throttled)
    return result


def _component(body: dict | None, schemas: dict) -> dict:
    ref = ((body or {}).get("content", {}).get("application/json", {}).get("schema") or {}).get("$ref", "")
    return schemas.get(ref.rpartition("/")[2], {}) if ref else {}


def _describe_input_fields(operation: dict, schemas: dict) -> None:
    taken = _component(operation.get("requestBody"), schemas)
    answers = [_component(r, schemas) for code, r in operation.get("responses", {}).items() if code.startswith("2")]
    answered = answers[0].get("properties", {}) if answers else {}
    for name, prop in (taken.get("properties") or {}).items():
        description = (answered.get(name) or {}).get("description")
        if description and not prop.get("description"):
            prop["description"] = description


def _throttled_operations(generator) -> set[tuple[str, str]]:
    """(path, method) of the operations whose view has throttles (all but the device ingest)."""
    found = set()
    for path, _regex, method, callback in generator.endpoints or []:
        view = generator.create_view(callback, method)
        if view.throttle_classes:
            found.add((generator.coerce_path(path, method, view), method.lower()))
    return found


def _operation(
    path: str, method: str, operation: dict, enums: "_EnumComponents", *, own_description: bool, throttled: bool
) -> None:
    parameters = operation.setdefault("parameters", [])
    if method != "get":
        parameters[:] = [p for p in parameters if p.get("in") != "query"]
    for parameter in parameters:
        if parameter.get("in") == "query":
            enums.share(parameter, owner=_owner(path))
        if parameter.get("description", "").startswith("Deprecated"):
            parameter["deprecated"] = True
    if method == "post":
        parameters.append(dict(IDEMPOTENCY_KEY))
    if not parameters:
        del operation["parameters"]

    responses = operation.setdefault("responses", {})
    anonymous = {} in operation.get("security", [])
    codes = {"429"} if throttled else set()
    if not throttled:
        responses.pop("429", None)
    if not anonymous:
        codes |= {"401", "403"}
    if any(p.get("in") == "path" for p in parameters):
        codes.add("404")
    if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
        codes.add("400")
    if "requestBody" in operation:
        codes.add("413")
    if method == "post":
        codes.add("422")
    for code in sorted(codes):
        responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
    for code, response in responses.items():
        _response(method, code, response, throttled=throttled)
    if not operation.get("summary"):
        operation["summary"] = _summary(path, method, operation, own_description=own_description)


def _response(method: str, code: str, response: dict, *, throttled: bool) -> None:
    content = response.get("content")
    if code in ERROR_DESCRIPTIONS and code[0] == "4":
        response["description"] = response.get("description") or ERROR_DESCRIPTIONS[code]
        # Errors are JSON; a list asked for as CSV answers its errors as CSV text too (apps/core/tabular.py).
        csv = any(media_type.startswith("text/csv") for media_type in content or {})
        content = response["content"] = {"application/json": {"schema": ERROR_REF}}
        if csv:
            content["text/csv"] = {"schema": CSV_SCHEMA}
    for media_type, body in (content or {}).items():
        if media_type.startswith("text/csv"):
            body["schema"] = CSV_SCHEMA
    headers = response.setdefault("headers", {})
    headers.setdefault("X-Request-ID", REQUEST_ID_HEADER)
    if method == "post" and code[0] in "24":
        headers.setdefault("Idempotent-Replayed", REPLAYED_HEADER)
    if code == "429":
        headers.setdefault("Retry-After", RETRY_AFTER_HEADER)
    # Refused before a throttle counts them (apps/core/throttling.py): authentication and permission errors.
    if throttled and code not in ("401", "403"):
        for name in RATE_LIMIT_HEADERS:
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


def _summary(path: str, method: str, operation: dict, *, own_description: bool) -> str:
    """The first sentence of the view's docstring, else what the method does where: 'List milestones',
    'Get a milestone', 'Submit (milestone)'."""
    description = (operation.get("description") or "").strip() if own_description else ""
    first = re.split(r"(?<=[a-z]\.)\s", description, maxsplit=1)[0].strip() if description else ""
    if first and len(first) <= 80 and first.count("(") == first.count(")"):
        return first.rstrip(".")
    segments = [s for s in path.strip("/").split("/") if s not in ("api", "v1")]
    names = [s.replace("-", " ").replace("_", " ") for s in segments]
    last = names[-1] if names else "API"
    if method == "get" and _is_list(operation):
        return f"List {last}"
    if segments and segments[-1].startswith("{"):
        owner = names[-2] if len(names) > 1 else "object"
        return f"{ACTION_VERBS[method]} {_a(_singular(owner))}"
    if len(segments) > 1 and segments[-2].startswith("{"):
        owner = _singular(names[-3]) if len(names) > 2 else "object"
        return f"{last.capitalize()} ({owner})" if method == "post" else f"{ACTION_VERBS[method]} {owner} {last}"
    if method == "post":
        return f"Create {_a(_singular(last))}"
    return f"{ACTION_VERBS[method]} {last}"


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", text) if part)


def _owner(path: str) -> str:
    """`KpiReading` for /api/kpi-readings/, `RiskRegisterRisk` for /api/risk-registers/{id}/risks/."""
    words = [s for s in path.strip("/").split("/") if s not in ("api", "v1") and not s.startswith("{")]
    return "".join(_pascal(_singular(word.replace("-", "_"))) for word in words[-2:] if word != "compute") or "Api"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _is_list(operation: dict) -> bool:
    schema = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    ref = schema.get("schema", {}).get("$ref", "")
    return schema.get("schema", {}).get("type") == "array" or "/Paginated" in ref


def _singular(word: str) -> str:
    if word.endswith("criteria"):
        return word[:-1] + "on"
    for plural, singular in (("ies", "y"), ("sses", "ss"), ("s", "")):
        if word.endswith(plural):
            return word[: -len(plural)] + singular
    return word


class _EnumComponents:
    """Inline choices of query parameters, replaced by a reference to the component with the same values."""

    def __init__(self, schemas: dict):
        self.schemas = schemas
        self.by_values = {
            tuple(sorted(map(str, schema["enum"]))): name
            for name, schema in schemas.items()
            if "enum" in schema and schema.get("type") == "string"
        }

    def share(self, parameter: dict, *, owner: str) -> None:
        schema = parameter.get("schema", {})
        target = schema.get("items", schema) if schema.get("type") == "array" else schema
        values = target.get("enum")
        if not values or target.get("type") != "string":
            return
        key = tuple(sorted(map(str, values)))
        name = self.by_values.get(key) or self._new(parameter["name"], target, owner=owner)
        reference = {"$ref": f"#/components/schemas/{name}"}
        if schema is target:
            description = schema.get("description")
            parameter["schema"] = reference
            if description and not parameter.get("description"):
                parameter["description"] = description
        else:
            schema["items"] = reference

    def _new(self, parameter_name: str, target: dict, *, owner: str) -> str:
        """`MetricEnum`, or where that name is taken (or the choices are a list's sort keys) `KpiReadingMetricEnum`."""
        base = _pascal(parameter_name)
        name, n = f"{base}Enum", 2
        if name in self.schemas or parameter_name == "ordering":
            name = f"{owner}{base}Enum"
        while name in self.schemas:
            name, n = f"{owner}{base}{n}Enum", n + 1
        values = [value for value in target["enum"] if value is not None]
        self.schemas[name] = {"type": "string", "enum": values}
        if "x-enum-varnames" in target:
            self.schemas[name]["x-enum-varnames"] = target["x-enum-varnames"]
        if target.get("description"):
            self.schemas[name]["description"] = target["description"]
        self.by_values[tuple(sorted(map(str, values)))] = name
        return name


class JSONColumnField(OpenApiSerializerFieldExtension):
    """A model's JSON column in the schema: an array where its default is `list`, an object where it is `dict`
    (labels, focus areas, configs, audit before/after), rather than a value of any type."""

    target_class = "rest_framework.fields.JSONField"

    def map_serializer_field(self, auto_schema, direction):
        model = getattr(getattr(self.target.parent, "Meta", None), "model", None)
        try:
            column = model._meta.get_field(self.target.source)
        except (AttributeError, FieldDoesNotExist):
            return {}
        if column.default is list:
            return {"type": "array", "items": {}}
        if column.default is dict:
            return {"type": "object", "additionalProperties": {}}
        return {}
