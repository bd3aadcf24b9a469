"""Build collectors from plain (JSON-storable) configuration dicts.

``build_collector(kind, config)`` with ``kind`` one of:

``"nvml"``
    ``{"host": str?, "include_mig": bool = true}``
``"nvidia_smi"``
    ``{"binary": str = "nvidia-smi", "timeout": float = 10, "host": str?}``
``"prometheus"``
    ``{"url": str (required), "timeout": float = 10, "bearer_token": str?,
    "basic_auth": {"username": str, "password": str} | [user, password]?,
    "verify": bool | str (CA bundle path) = true, "headers": {str: str}?,
    "mappings": "dcgm" | "node_exporter" | [preset or mapping dict, ...] = "dcgm",
    "selector": str | {label: value}?, "rate_window": str = "5m",
    "device_label": str?, "strict": bool = true,
    "flavour": "prometheus" | "victoriametrics" = "prometheus"}``

Unknown keys are rejected so that a typo in stored configuration shows up as
a clear :class:`~compute_hooks.errors.CollectorConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import CollectorConfigError

KINDS = ("nvml", "nvidia_smi", "prometheus")

_ALLOWED = {
    "nvml": {"host", "include_mig"},
    "nvidia_smi": {"binary", "timeout", "host"},
    "prometheus": {
        "url",
        "timeout",
        "bearer_token",
        "basic_auth",
        "verify",
        "headers",
        "mappings",
        "selector",
        "rate_window",
        "device_label",
        "strict",
        "flavour",
    },
}


def _check_keys(kind: str, config: Mapping[str, Any]) -> None:
    unknown = set(config) - _ALLOWED[kind]
    if unknown:
        raise CollectorConfigError(
            f"unknown key(s) for a {kind} collector: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_ALLOWED[kind]))}"
        )


def _typed(config: Mapping[str, Any], key: str, types, default=None, what: str = ""):
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise CollectorConfigError(f"{key!r} must be {what}, got {value!r}")
    if not isinstance(value, types):
        raise CollectorConfigError(f"{key!r} must be {what}, got {value!r}")
    return value


def _positive(config: Mapping[str, Any], key: str, default: float) -> float:
    value = _typed(config, key, (int, float), default, "a positive number of seconds")
    if value is None or value <= 0:
        raise CollectorConfigError(f"{key!r} must be a positive number of seconds, got {value!r}")
    return float(value)


def _basic_auth(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        extra = set(value) - {"username", "password"}
        if extra or "username" not in value:
            raise CollectorConfigError('\'basic_auth\' must be {"username": ..., "password": ...}')
        return (str(value["username"]), str(value.get("password", "")))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (str(value[0]), str(value[1]))
    raise CollectorConfigError('\'basic_auth\' must be {"username": ..., "password": ...} or [user, password]')


def build_collector(kind: str, config: Mapping[str, Any] | None = None, *, session: Any = None):
    """Build a collector of ``kind`` from a plain configuration dict (see module doc).

    ``session`` is the ``requests.Session`` a Prometheus collector sends its
    queries through (default: a plain one).  A server that queries Prometheus
    on someone else's behalf passes one that decides where requests may go.
    """
    config = dict(config or {})
    if kind not in _ALLOWED:
        raise CollectorConfigError(f"unknown collector kind {kind!r}; known kinds: {', '.join(KINDS)}")
    _check_keys(kind, config)

    if kind == "nvml":
        from .nvml import NvmlCollector

        include_mig = _typed(config, "include_mig", bool, True, "true or false")
        return NvmlCollector(host=_typed(config, "host", str, None, "a string"), include_mig=include_mig)

    if kind == "nvidia_smi":
        from .nvidia_smi import NvidiaSmiCollector

        return NvidiaSmiCollector(
            binary=_typed(config, "binary", str, "nvidia-smi", "a string") or "nvidia-smi",
            timeout=_positive(config, "timeout", 10.0),
            host=_typed(config, "host", str, None, "a string"),
        )

    from .prometheus import FLAVOURS, PrometheusClient, PrometheusCollector

    url = config.get("url")
    if not isinstance(url, str) or not url:
        raise CollectorConfigError("a prometheus collector needs 'url' (e.g. \"http://prometheus:9090\")")
    verify = config.get("verify", True)
    if not isinstance(verify, (bool, str)):
        raise CollectorConfigError("'verify' must be true, false or a CA bundle path")
    headers = config.get("headers") or None
    if headers is not None and not isinstance(headers, Mapping):
        raise CollectorConfigError("'headers' must be an object of header names to values")
    flavour = config.get("flavour", "prometheus")
    if flavour not in FLAVOURS:
        raise CollectorConfigError(f"'flavour' must be one of {', '.join(FLAVOURS)}, got {flavour!r}")
    client = PrometheusClient(
        url,
        timeout=_positive(config, "timeout", 10.0),
        bearer_token=_typed(config, "bearer_token", str, None, "a string"),
        basic_auth=_basic_auth(config.get("basic_auth")),
        verify=verify,
        headers={str(k): str(v) for k, v in (headers or {}).items()},
        session=session,
        flavour=flavour,
    )
    selector = config.get("selector")
    if selector is not None and not isinstance(selector, (str, Mapping)):
        raise CollectorConfigError("'selector' must be PromQL label matchers or an object of label values")
    return PrometheusCollector(
        client,
        mappings=config.get("mappings", "dcgm"),
        selector=selector,
        strict=_typed(config, "strict", bool, True, "true or false"),
        rate_window=_typed(config, "rate_window", str, "5m", 'a duration such as "5m"'),
        device_label=_typed(config, "device_label", str, None, "a label name"),
    )
