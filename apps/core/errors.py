"""The one error family of govtrack's services.

Services raise these; the API turns them into `{"message": ..., "extra": {...}}` with
the status code below, and the dashboard shows the message beside the form.
"""

from typing import Any


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Bad input. `extra["fields"]` maps each offending field to its messages."""

    status_code = 400

    @classmethod
    def for_field(cls, field: str, message: str) -> "ValidationFailed":
        return cls(message, {"fields": {field: [message]}})

    @classmethod
    def for_fields(cls, fields: dict[str, str | list[str]], message: str = "Invalid input.") -> "ValidationFailed":
        normalized = {name: msgs if isinstance(msgs, list) else [msgs] for name, msgs in fields.items()}
        return cls(message, {"fields": normalized})


class PermissionDenied(ApplicationError):
    """The user may see the object but not do this; the message says why."""

    status_code = 403


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    """The object's state forbids the action (an illegal state transition, a duplicate)."""

    status_code = 409


class Unprocessable(ApplicationError):
    status_code = 422


class PayloadTooLarge(ApplicationError):
    """The request body is larger than the limit for it; `extra["max_bytes"]` says how large it may be."""

    status_code = 413
