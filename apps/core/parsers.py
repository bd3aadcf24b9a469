"""The API's JSON parser: a body is refused before parsing when it is too large (413) or nested too deep (400).

DRF's own JSONParser reads `request.body` (the whole body, up to DATA_UPLOAD_MAX_MEMORY_SIZE, else a 500) and
then recurses once per bracket. This one reads the stream itself, at most `max_bytes` of it, and counts the
nesting before `json.loads` runs (compute_hooks/json_limits.py, shared with the Prometheus client). It is the
default parser (settings.REST_FRAMEWORK); the ingest API subclasses it with its own size limit. A field the
operation does not declare is a 400 naming it (apps/core/strict.py). A string or key holding the NUL character
is a 400 naming where it is: PostgreSQL stores NUL neither in text nor in jsonb (`\\u0000`), and JSON fields such
as a device's labels reach jsonb with no CharField in between.
"""

from django.conf import settings
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, get_encoding

from apps.core.errors import PayloadTooLarge, ValidationFailed
from apps.core.strict import refuse_unknown_body_fields
from compute_hooks.json_limits import JSONLimitError, json_loads_bounded


def body_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.", {"max_bytes": limit})


def _nul_path(value, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return path or "body"
            found = _nul_path(item, inner)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]" if path else f"[{index}]")
            if found:
                return found
    return None


def refuse_nul_characters(data) -> None:
    """Called only when the text holds `\\u0000`, so a body without one costs a substring search."""
    path = _nul_path(data, "")
    if path is not None:
        raise ValidationFailed.for_field(path, "Text cannot contain the NUL character.")


class BoundedJSONParser(BaseParser):
    # Not a subclass of JSONParser on purpose: DRF hands a JSONParser `request.body`, read whole, and this parser
    # its stream, which it reads no further than its limit.
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    strict = True  # NaN and Infinity are not JSON

    @property
    def max_bytes(self) -> int:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    @property
    def max_depth(self) -> int:
        return settings.API_JSON_MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        context = parser_context or {}
        encoding = get_encoding(context)
        limit = self.max_bytes
        request = context.get("request")
        declared = getattr(request, "META", {}).get("CONTENT_LENGTH") or ""
        if str(declared).isdigit() and int(declared) > limit:
            raise body_too_large(limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise body_too_large(limit)
        try:
            text = raw.decode(encoding)
            data = json_loads_bounded(text, max_depth=self.max_depth, strict_constants=self.strict)
        except JSONLimitError as exc:
            raise ValidationFailed.for_field("body", f"The request body is JSON {exc}.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if "\\u0000" in text:
            refuse_nul_characters(data)
        if request is not None:
            refuse_unknown_body_fields(context.get("view"), request.method, data)
        return data
