import datetime as dt
import re

from django.conf import settings
from django.http import JsonResponse
from django.utils.http import http_date

from apps.core.context import new_request_id, reset_request_id, set_request_id
from apps.core.exceptions import error_body

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Takes X-Request-ID from a trusted proxy (when well-formed) or makes one; echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class ApiErrorBodyMiddleware:
    """Under /api/, an error page Django wrote itself (an unknown path, a 500, a refused request) becomes the API's
    JSON error shape, so a finance tool never has to read HTML. Error bodies that are already JSON (or CSV, for a
    CSV export) pass unchanged."""

    MESSAGES = {
        400: "Bad request.",
        403: "Forbidden.",
        404: "Not found.",
        405: "Method not allowed.",
        413: "The request body is too large.",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return self._json_error(response.status_code, request)
        return response

    def _json_error(self, status: int, request):
        if status >= 500:
            body = error_body(
                "Internal error. Quote the request id to support.", {"request_id": getattr(request, "request_id", "")}
            )
        else:
            body = error_body(self.MESSAGES.get(status, "The request was refused."))
        return JsonResponse(body, status=status)


class NulQueryParameterMiddleware:
    """Under /api/, a query parameter (name or value) holding a NUL character is a 400 naming it: PostgreSQL text
    cannot hold one, so any view that filtered by it would fail with a 500 (found by the API fuzzing gate on a
    framework filter). A JSON body's strings and keys are checked by the parser (apps/core/parsers.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            for name, values in request.GET.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    shown = name.replace("\x00", "\\0")
                    message = "Query parameters cannot contain the NUL character."
                    return JsonResponse(error_body(f"{shown}: {message}", {"fields": {shown: [message]}}), status=400)
        return self.get_response(request)


class DeprecatedApiPathMiddleware:
    """The unversioned `/api/...` paths answer as `/api/v1/...` does, for one release, and say so on every answer:
    `Deprecation: true`, `Sunset` (settings.API_UNVERSIONED_SUNSET) and a `Link` to the successor path."""

    PREFIX, CURRENT = "/api/", "/api/v1/"

    def __init__(self, get_response):
        self.get_response = get_response
        self.sunset = http_date(
            dt.datetime.combine(settings.API_UNVERSIONED_SUNSET, dt.time(), tzinfo=dt.UTC).timestamp()
        )

    def __call__(self, request):
        response = self.get_response(request)
        path = request.path
        if path.startswith(self.PREFIX) and not path.startswith(self.CURRENT):
            response["Deprecation"] = "true"
            response["Sunset"] = self.sunset
            response["Link"] = f'<{self.CURRENT}{path.removeprefix(self.PREFIX)}>; rel="successor-version"'
        return response
