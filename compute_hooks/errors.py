"""Exception family raised by govtrack's compute collectors.

Every error a collector raises derives from :class:`CollectorError`, so a
caller that only wants "did this source work?" catches one class.  The
subclasses carry enough structure (``retryable``, HTTP status, Prometheus
``errorType``) for a scheduler to decide whether to try again later.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base class for every failure of a collector or of its configuration.

    ``retryable`` tells whether the same call may succeed later without any
    change of configuration (a source that is temporarily down, a timeout).
    """

    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class CollectorConfigError(CollectorError, ValueError):
    """The collector's configuration is invalid (unknown kind, bad key, bad value)."""


class DriverNotFoundError(CollectorError):
    """The NVIDIA driver or its management library is not present on this host."""


class CommandError(CollectorError):
    """An external command (such as ``nvidia-smi``) is missing, failed or timed out."""

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        output: str = "",
        retryable: bool | None = None,
    ):
        super().__init__(message, retryable=retryable)
        self.returncode = returncode
        self.output = output


class PrometheusError(CollectorError):
    """A Prometheus HTTP API call failed.

    ``status_code`` is the HTTP status (``None`` when no response came back),
    ``error_type`` and ``error`` are Prometheus's own ``errorType`` and
    ``error`` fields when the server sent them, ``warnings`` any warnings the
    response carried.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        error: str | None = None,
        warnings: list[str] | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message, retryable=retryable)
        self.status_code = status_code
        self.error_type = error_type
        self.error = error
        self.warnings = list(warnings or [])


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (HTTP 400 ``bad_data`` or 422 ``execution``)."""

    retryable = False


class PrometheusAuthError(PrometheusError):
    """Prometheus (or a proxy in front of it) refused the credentials (HTTP 401/403)."""

    retryable = False


class PrometheusUnavailableError(PrometheusError):
    """Prometheus could not be reached or answered 503/5xx; worth retrying later."""

    retryable = True


class PrometheusTimeoutError(PrometheusUnavailableError):
    """The HTTP request to Prometheus timed out."""

    retryable = True
