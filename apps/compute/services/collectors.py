"""What a tenant may put in a collected source's config, how its collector is built for a run, and what a
failed run tells the user.

compute_hooks (no Django) accepts any configuration an operator could want on their own machine: any
nvidia-smi program, `verify: false`, any header. A tenant's source gets less: the program is the operator's
(COMPUTE_NVIDIA_SMI_BINARY), TLS is always verified, headers come from a short list, the URL must pass the egress
gate (apps/core/egress.py) and every request goes through it. The same rules are applied again when a stored
config is run, so a row written before them is held to them too.
"""

from django.conf import settings
from django.db import DatabaseError

from apps.compute.models import SourceKind
from apps.core.egress import egress_session, failure_text, http_status_text, url_origin, url_refusal
from apps.core.errors import ValidationFailed
from compute_hooks import (
    CollectorConfigError,
    CommandError,
    DriverNotFoundError,
    PrometheusError,
    PrometheusQueryError,
    build_collector,
)

REDACTED = "********"  # what the API shows for a stored secret
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 60
# Headers a tenant may add to Prometheus queries (multi-tenant stores); credentials go in bearer_token/basic_auth.
TENANT_HEADERS = {"accept": "Accept", "x-scope-orgid": "X-Scope-OrgID", "thanos-tenant": "THANOS-TENANT"}
# Prometheus's own errorType values: a fixed vocabulary, so safe to show (the error text is not).
PROMETHEUS_ERROR_TYPES = {"timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found"}


def _clean_timeout(config: dict) -> None:
    if "timeout" not in config:
        return
    value = config["timeout"]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS
    ):
        raise ValidationFailed.for_field(
            "config.timeout", f"A number of seconds from {MIN_TIMEOUT_SECONDS} to {MAX_TIMEOUT_SECONDS}."
        )


def _clean_headers(headers) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise ValidationFailed.for_field("config.headers", "Give an object of header names to values.")
    allowed = ", ".join(TENANT_HEADERS.values())
    for name, value in headers.items():
        if not isinstance(name, str) or name.lower() not in TENANT_HEADERS:
            raise ValidationFailed.for_field(
                "config.headers",
                f"Header {name!r} is not allowed; allowed: {allowed}. Credentials go in bearer_token or basic_auth.",
            )
        if not isinstance(value, str) or any(c in value for c in "\r\n\0") or len(value) > 500:
            raise ValidationFailed.for_field("config.headers", f"Header {name!r} needs a one-line text value.")


def tenant_config_check(kind: str, config: dict) -> None:
    """The rules a tenant's config obeys beyond what the collector itself checks; each 400 names its field."""
    if kind == SourceKind.NVIDIA_SMI and "binary" in config:
        raise ValidationFailed.for_field(
            "config.binary", "The nvidia-smi program is chosen by the operator (COMPUTE_NVIDIA_SMI_BINARY)."
        )
    _clean_timeout(config)
    if kind != SourceKind.PROMETHEUS:
        return
    if "verify" in config and config["verify"] is not True:
        raise ValidationFailed.for_field("config.verify", "TLS certificates are always verified; leave 'verify' out.")
    _clean_headers(config.get("headers"))
    url = config.get("url")
    if isinstance(url, str) and url:
        refusal = url_refusal(url)
        if refusal:
            raise ValidationFailed.for_field("config.url", refusal)


def secrets_kept_on_new_origin(old: dict, new: dict) -> str | None:
    """The field of a stored secret that `new` asks to keep (the redaction marker) while its URL moves elsewhere."""
    if url_origin(old.get("url") or "") == url_origin(new.get("url") or ""):
        return None
    if new.get("bearer_token") == REDACTED:
        return "config.bearer_token"
    auth = new.get("basic_auth")
    if (isinstance(auth, dict) and auth.get("password") == REDACTED) or (
        isinstance(auth, list) and len(auth) == 2 and auth[1] == REDACTED
    ):
        return "config.basic_auth"
    headers = new.get("headers")
    if isinstance(headers, dict) and REDACTED in headers.values():
        return "config.headers"
    return None


def collector_for_run(kind: str, config: dict):
    """The collector of a stored config, held to the tenant rules: the operator's program, the egress gate."""
    config = dict(config or {})
    if "timeout" in config and isinstance(config["timeout"], int | float) and not isinstance(config["timeout"], bool):
        config["timeout"] = min(max(config["timeout"], MIN_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS)
    if kind == SourceKind.NVIDIA_SMI:
        config["binary"] = settings.COMPUTE_NVIDIA_SMI_BINARY
    if kind != SourceKind.PROMETHEUS:
        return build_collector(kind, config)
    config.pop("verify", None)
    if isinstance(config.get("headers"), dict):
        config["headers"] = {k: v for k, v in config["headers"].items() if str(k).lower() in TENANT_HEADERS}
    return build_collector(kind, config, session=egress_session())


def collection_failure_text(exc: BaseException) -> str:
    """What a user is told about a failed collection: a classified phrase, never text a remote side or a program
    wrote (that goes to the server log)."""
    if isinstance(exc, PrometheusError):
        kind = f" ({exc.error_type})" if exc.error_type in PROMETHEUS_ERROR_TYPES else ""
        if exc.status_code is None:
            transport = exc.__cause__ is not None
            return f"Prometheus: {failure_text(exc)}" if transport else "Prometheus: not an API answer"
        if exc.status_code == 200:
            what = "query rejected" if isinstance(exc, PrometheusQueryError) else "not an API answer"
            return f"Prometheus: {what}{kind}"
        return f"Prometheus: {http_status_text(exc.status_code)}{kind}"
    if isinstance(exc, CommandError):
        if exc.returncode is not None:
            return f"nvidia-smi exited with status {exc.returncode}"
        if isinstance(exc.__cause__, FileNotFoundError):
            return "nvidia-smi not found"
        if isinstance(exc.__cause__, PermissionError):
            return "nvidia-smi could not be run"
        return "nvidia-smi timed out" if exc.retryable else "nvidia-smi output not understood"
    if isinstance(exc, DriverNotFoundError):
        return "NVIDIA driver not found on the worker"
    if isinstance(exc, CollectorConfigError):
        return f"configuration: {exc}"
    if isinstance(exc, DatabaseError):
        return "the samples could not be stored"
    return f"collection failed ({type(exc).__name__})"
