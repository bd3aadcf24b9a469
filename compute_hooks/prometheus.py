"""Prometheus collector over the Prometheus HTTP API.

:class:`PrometheusClient` runs instant (``/api/v1/query``) and range
(``/api/v1/query_range``) queries and turns the JSON answer into
:class:`Series`.  :class:`MetricMapping` says how one govtrack metric is read
from Prometheus (a PromQL template, the label that names the device, a scale
factor, which labels to keep).  Two sets of mappings ship:

* :func:`dcgm_mappings` for NVIDIA's DCGM exporter (GPUs, also on Kubernetes),
* :func:`node_exporter_mappings` for Prometheus's node exporter (edge fleets).

:class:`PrometheusCollector` runs one instant query per mapping and yields
:class:`~compute_hooks.samples.Sample` objects; :func:`query_mapping_range`
runs a range query for one mapping over a window (for evaluating criteria over
a whole fleet and a period of time).

The client speaks to Prometheus and to stores with its query API; for the
``victoriametrics`` flavour (VictoriaMetrics, whose MetricsQL reads PromQL)
:func:`query_mapping_step_rollups` reads each step's avg, min, max and count
of raw samples, as govtrack's per-minute rollups keep them, so a week over a
thousand GPUs can be read in long steps without losing the samples between.
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from .errors import (
    CollectorConfigError,
    PrometheusAuthError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeoutError,
    PrometheusUnavailableError,
)
from .json_limits import JSONLimitError, json_loads_bounded
from .samples import METRICS, Sample, clean_labels, from_unix, get_metric

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# An answer is read at most this far and parsed only when nested no deeper than ANSWER_MAX_DEPTH (the API's
# own answers nest 5 deep): a server answering with 100,000 brackets must not take the worker down with it.
ANSWER_MAX_BYTES = 128 * MIB
ANSWER_MAX_DEPTH = 64

# DCGM marks "no value" with sentinels instead of leaving a series out
# (dcgm_structs.h: DCGM_INT32_BLANK 0x7ffffff0, DCGM_INT64_BLANK
# 0x7ffffffffffffff0, DCGM_FP64_BLANK 140737488355328.0, each followed by
# NOT_FOUND / NOT_SUPPORTED / NOT_PERMISSIONED = BLANK + 1, 2, 3).  Exporters
# print them as plain numbers, e.g. 2147483632, 9223372036854775794 or
# 140737488355328.
DCGM_INT32_BLANK = 0x7FFFFFF0
DCGM_INT64_BLANK = 0x7FFFFFFFFFFFFFF0
DCGM_FP64_BLANK = 140737488355328.0  # 2**47

PROMETHEUS = "prometheus"
VICTORIAMETRICS = "victoriametrics"
FLAVOURS = (PROMETHEUS, VICTORIAMETRICS)


def is_non_finite(value: float) -> bool:
    return math.isnan(value) or math.isinf(value)


def is_dcgm_blank(value: float, int32_field: bool = True) -> bool:
    """True for DCGM's "blank" sentinels, NaN and +/-Inf.

    Any value at or above ``DCGM_FP64_BLANK`` (2**47, which also covers the
    64-bit sentinels and 9223372036854775807) is blank.  With
    ``int32_field`` (all DCGM gauges govtrack maps: utilisation, MiB, watts,
    degrees, MHz) values at or above ``DCGM_INT32_BLANK`` - 2147483632 up to
    2147483647 and beyond - are blank too: none of those readings can be that
    large.  Do not use ``int32_field`` for counters that can legitimately
    pass 2**31 (energy in mJ, for instance).
    """
    if is_non_finite(value) or value >= DCGM_FP64_BLANK:
        return True
    return bool(int32_field and value >= DCGM_INT32_BLANK)


# ---------------------------------------------------------------------------
# Parsed results


@dataclass(frozen=True)
class Series:
    """One time series from a query: its labels and ``(unix_ts, value)`` points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]

    @property
    def last(self) -> tuple[float, float] | None:
        return self.points[-1] if self.points else None


@dataclass
class QueryResult:
    """The answer to one query: series plus any warnings Prometheus attached.

    Iterating over a result iterates over its series.
    """

    result_type: str
    series: list[Series]
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    @property
    def partial(self) -> bool:
        """True when Prometheus warned that the data may be incomplete."""
        return bool(self.warnings)


# ---------------------------------------------------------------------------
# Client


def _to_api_time(value: datetime | float | int | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes passed to Prometheus must be timezone-aware")
        return f"{value.timestamp():.3f}"
    if isinstance(value, (int, float)):
        return f"{float(value):.3f}"
    if isinstance(value, str):
        return value
    raise TypeError(f"unsupported time value {value!r}")


def _to_api_step(value: timedelta | float | int | str) -> str:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        return value
    else:
        raise TypeError(f"unsupported step {value!r}")
    if seconds <= 0:
        raise ValueError("step must be positive")
    return f"{seconds:g}"


def _parse_value(raw: Any) -> float:
    # Prometheus sends sample values as strings: "1", "NaN", "+Inf", "-Inf".
    return float(raw)


def _parse_result(data: Mapping[str, Any]) -> tuple[str, list[Series]]:
    result_type = data.get("resultType")
    result = data.get("result")
    series: list[Series] = []
    if result_type == "vector":
        for item in result or []:
            if "value" not in item:  # native histogram sample; no float value
                continue
            ts, raw = item["value"]
            series.append(Series(dict(item.get("metric") or {}), [(float(ts), _parse_value(raw))]))
    elif result_type == "matrix":
        for item in result or []:
            points = [(float(ts), _parse_value(raw)) for ts, raw in item.get("values") or []]
            series.append(Series(dict(item.get("metric") or {}), points))
    elif result_type == "scalar":
        ts, raw = result
        series.append(Series({}, [(float(ts), _parse_value(raw))]))
    elif result_type == "string":
        raise PrometheusQueryError(
            "Prometheus returned a string result; only numeric results can be mapped",
            status_code=200,
        )
    else:
        raise PrometheusError(f"Prometheus returned an unknown resultType {result_type!r}")
    return str(result_type), series


class PrometheusClient:
    """A small client for Prometheus's HTTP query API.

    :param base_url: Prometheus root, e.g. ``http://prometheus:9090`` (a path
        prefix such as ``https://host/prometheus`` is kept).
    :param timeout: seconds for connecting and for reading the answer; also
        sent to Prometheus as the query ``timeout`` parameter.
    :param bearer_token: sent as ``Authorization: Bearer <token>``.
    :param basic_auth: ``(username, password)`` for HTTP basic auth.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param headers: extra HTTP headers (e.g. ``X-Scope-OrgID`` for Mimir/Thanos).
    :param max_answer_bytes: a longer answer is refused (a :class:`PrometheusError`) without being parsed.
    :param flavour: ``"prometheus"`` or ``"victoriametrics"`` (range queries ask for the exact window).

    Every warning Prometheus sends is logged, kept on the returned
    :class:`QueryResult` and appended to :attr:`warnings` (the last 100).
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        verify: bool | str = True,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        max_answer_bytes: int = ANSWER_MAX_BYTES,
        flavour: str = PROMETHEUS,
    ):
        if flavour not in FLAVOURS:
            raise CollectorConfigError(f"unknown flavour {flavour!r}; known: {', '.join(FLAVOURS)}")
        if not base_url or not re.match(r"^https?://", base_url):
            raise CollectorConfigError(f"Prometheus URL must start with http:// or https://, got {base_url!r}")
        if bearer_token and basic_auth:
            raise CollectorConfigError("give either a bearer token or basic auth for Prometheus, not both")
        if timeout <= 0:
            raise CollectorConfigError("Prometheus timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.flavour = flavour
        self.timeout = float(timeout)
        self.max_answer_bytes = max_answer_bytes
        self.verify = verify
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/json", "User-Agent": "govtrack-compute-hooks"}
        if headers:
            self.headers.update(headers)
        if bearer_token:
            self.headers["Authorization"] = f"Bearer {bearer_token}"
        self.auth = tuple(basic_auth) if basic_auth else None
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"PrometheusClient({self.base_url!r})"

    # -- public API --------------------------------------------------------

    def query(self, expr: str, time: datetime | float | str | None = None) -> QueryResult:
        """Run an instant query; ``time`` defaults to Prometheus's "now"."""
        params = {"query": expr, "timeout": f"{self.timeout:g}s"}
        if time is not None:
            params["time"] = _to_api_time(time)
        return self._call("/api/v1/query", params, expr)

    def query_range(
        self,
        expr: str,
        start: datetime | float | str,
        end: datetime | float | str,
        step: timedelta | float | str,
    ) -> QueryResult:
        """Run a range query from ``start`` to ``end`` every ``step`` (seconds or timedelta)."""
        params = {
            "query": expr,
            "start": _to_api_time(start),
            "end": _to_api_time(end),
            "step": _to_api_step(step),
            "timeout": f"{self.timeout:g}s",
        }
        if self.flavour == VICTORIAMETRICS:
            # Without it VictoriaMetrics rounds start and end to a multiple of step (for its cache) once a series
            # has 50 points or more: the answer would be of another window than the one asked.
            params["nocache"] = "1"
        return self._call("/api/v1/query_range", params, expr)

    # -- internals ---------------------------------------------------------

    def _call(self, path: str, params: dict[str, str], expr: str) -> QueryResult:
        url = self.base_url + path
        where = f"Prometheus at {self.base_url}"
        try:
            response = self.session.post(
                url,
                data=params,
                headers=self.headers,
                auth=self.auth,
                timeout=self.timeout,
                verify=self.verify,
                stream=True,
            )
            raw = _read_answer(response, self.max_answer_bytes, where)
        except requests.exceptions.SSLError as exc:
            raise PrometheusError(f"TLS error talking to {where}: {exc}", retryable=False) from exc
        except requests.exceptions.Timeout as exc:
            raise PrometheusTimeoutError(f"{where} did not answer within {self.timeout:g} s (query {expr!r})") from exc
        except requests.exceptions.ConnectionError as exc:
            raise PrometheusUnavailableError(f"{where} is unreachable: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise PrometheusError(f"request to {where} failed: {exc}") from exc

        status = response.status_code
        try:
            body = json_loads_bounded(raw, max_depth=ANSWER_MAX_DEPTH, strict_constants=False)
            if not isinstance(body, dict):
                body = None
        except JSONLimitError as exc:
            raise PrometheusError(
                f"{where} answered with JSON {exc}; it was not read", status_code=status, retryable=False
            ) from None
        except ValueError:
            body = None

        warnings = [str(w) for w in (body or {}).get("warnings") or []]
        infos = [str(i) for i in (body or {}).get("infos") or []]
        error_type = (body or {}).get("errorType")
        error = (body or {}).get("error")

        if status == 200 and body is not None and body.get("status") == "success":
            result_type, series = _parse_result(body.get("data") or {})
            self._record_warnings(expr, warnings)
            return QueryResult(result_type, series, warnings, infos)

        snippet = error or raw.decode("utf-8", "replace").strip()[:300] or response.reason or "no details"
        detail = f"{error_type}: {snippet}" if error_type else snippet
        kwargs = {"status_code": status, "error_type": error_type, "error": error, "warnings": warnings}
        if status == 200:
            # 200 with status "error" (some proxies) or a body that is not the API's JSON.
            if error_type in ("timeout", "canceled", "unavailable"):
                raise PrometheusUnavailableError(f"{where} could not run query {expr!r}: {detail}", **kwargs)
            if body is None:
                raise PrometheusError(f"{where} answered with something that is not API JSON: {detail}", **kwargs)
            raise PrometheusQueryError(f"{where} rejected query {expr!r}: {detail}", **kwargs)
        if status in (400, 422):
            raise PrometheusQueryError(f"{where} rejected query {expr!r} (HTTP {status}): {detail}", **kwargs)
        if status in (401, 403):
            raise PrometheusAuthError(f"{where} refused the credentials (HTTP {status}): {detail}", **kwargs)
        if status == 404:
            raise PrometheusError(f"{where} has no {path} (HTTP 404); is the base URL right? {detail}", **kwargs)
        if status == 503 or status >= 500 or status == 429:
            raise PrometheusUnavailableError(f"{where} is unavailable (HTTP {status}): {detail}", **kwargs)
        raise PrometheusError(f"{where} answered HTTP {status}: {detail}", **kwargs)

    def _record_warnings(self, expr: str, warnings: list[str]) -> None:
        for warning in warnings:
            log.warning("Prometheus warning for %r: %s", expr, warning)
        self.warnings.extend(warnings)
        del self.warnings[:-100]


def _read_answer(response: requests.Response, limit: int, where: str) -> bytes:
    """The answer's body, read in pieces and refused once it passes ``limit`` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise PrometheusError(f"{where} answered with more than {limit} bytes; it was not read", retryable=False)
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            response.close()
            raise PrometheusError(f"{where} answered with more than {limit} bytes; it was not read", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Mappings


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def format_selector(selector: str | Mapping[str, str] | None) -> str:
    """Label matchers to add to every query, without braces.

    A mapping ``{"job": "dcgm"}`` becomes ``job="dcgm"`` (values escaped); a
    string is taken as PromQL matchers, with or without surrounding braces.
    """
    if selector is None:
        return ""
    if isinstance(selector, Mapping):
        parts = []
        for name, value in selector.items():
            if not _LABEL_NAME.match(str(name)):
                raise CollectorConfigError(f"invalid Prometheus label name {name!r} in selector")
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            parts.append(f'{name}="{escaped}"')
        return ",".join(parts)
    text = str(selector).strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    return text


_EMPTY_BRACES = re.compile(r"\{\s*,?\s*\}")
_TRAILING_COMMA = re.compile(r",\s*\}")
_LEADING_COMMA = re.compile(r"\{\s*,")


@dataclass(frozen=True)
class MetricMapping:
    """How one govtrack metric is read from Prometheus.

    ``expr`` is a PromQL template.  ``$selector`` stands for the collector's
    label matchers and goes inside braces (``up{$selector}``,
    ``node_cpu_seconds_total{mode="idle",$selector}``); ``$device_label`` is
    the label naming the device, other ``$names`` come from ``params``.
    ``labels`` maps Prometheus label names to govtrack label names; only
    those are kept.  With ``dcgm_blanks`` DCGM's blank sentinels are dropped
    (NaN and +/-Inf are always dropped).  When a series has ``mig_label``
    (DCGM's ``GPU_I_ID`` on a MIG instance) the device key becomes
    ``<key>/mig<value>`` and the label ``parent`` names the GPU.
    """

    metric: str
    expr: str
    device_label: str = "instance"
    scale: float = 1.0
    labels: Mapping[str, str] = field(default_factory=dict)
    dcgm_blanks: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    mig_label: str | None = None

    def __post_init__(self) -> None:
        get_metric(self.metric)  # raises UnknownMetricError for unknown names
        if not _LABEL_NAME.match(self.device_label):
            raise CollectorConfigError(f"invalid device label {self.device_label!r}")
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "params", {k: str(v) for k, v in dict(self.params).items()})

    def render(self, selector: str | Mapping[str, str] | None = None) -> str:
        """The PromQL expression with ``selector`` and parameters filled in."""
        values = dict(self.params)
        values["selector"] = format_selector(selector)
        values["device_label"] = self.device_label
        text = string.Template(self.expr).safe_substitute(values)
        text = _EMPTY_BRACES.sub("", text)
        text = _TRAILING_COMMA.sub("}", text)
        text = _LEADING_COMMA.sub("{", text)
        return text

    def is_blank(self, value: float) -> bool:
        if self.dcgm_blanks:
            return is_dcgm_blank(value)
        return is_non_finite(value)

    def device_key(self, labels: Mapping[str, str]) -> str | None:
        key = labels.get(self.device_label)
        if not key:
            return None
        if self.mig_label and labels.get(self.mig_label) not in (None, ""):
            return f"{key}/mig{labels[self.mig_label]}"
        return key

    def map_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        out = clean_labels({dst: labels.get(src) for src, dst in self.labels.items()})
        if self.mig_label and labels.get(self.mig_label) not in (None, ""):
            out["parent"] = labels.get(self.device_label, "")
        return out

    def to_dict(self) -> dict:
        data = {
            "metric": self.metric,
            "expr": self.expr,
            "device_label": self.device_label,
            "scale": self.scale,
            "labels": dict(self.labels),
            "dcgm_blanks": self.dcgm_blanks,
            "params": dict(self.params),
        }
        if self.mig_label:
            data["mig_label"] = self.mig_label
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricMapping:
        allowed = {"metric", "expr", "device_label", "scale", "labels", "dcgm_blanks", "params", "mig_label"}
        unknown = set(data) - allowed
        if unknown:
            raise CollectorConfigError(
                f"unknown key(s) in Prometheus mapping: {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        for key in ("metric", "expr"):
            if not isinstance(data.get(key), str) or not data.get(key):
                raise CollectorConfigError(f"Prometheus mapping needs a non-empty {key!r}")
        try:
            return cls(
                metric=data["metric"],
                expr=data["expr"],
                device_label=data.get("device_label", "instance"),
                scale=float(data.get("scale", 1.0)),
                labels=dict(data.get("labels") or {}),
                dcgm_blanks=bool(data.get("dcgm_blanks", False)),
                params=dict(data.get("params") or {}),
                mig_label=data.get("mig_label"),
            )
        except (TypeError, ValueError) as exc:
            raise CollectorConfigError(f"invalid Prometheus mapping {dict(data)!r}: {exc}") from exc


#: DCGM exporter labels kept, and their govtrack names.
DCGM_LABELS: dict[str, str] = {
    "gpu": "index",
    "modelName": "name",
    "Hostname": "host",
    "pod": "pod",
    "namespace": "namespace",
    "container": "container",
    "GPU_I_PROFILE": "mig_profile",
}


def dcgm_mappings(labels: Mapping[str, str] | None = None) -> list[MetricMapping]:
    """Mappings for NVIDIA's DCGM exporter; device key = the ``UUID`` label.

    ``DCGM_FI_DEV_FB_USED``/``FB_FREE`` are MiB and are scaled to bytes; the
    total is ``FB_USED + FB_FREE`` (memory the driver reserves is not in it).
    """
    kept = dict(DCGM_LABELS if labels is None else labels)

    def m(metric: str, expr: str, scale: float = 1.0) -> MetricMapping:
        return MetricMapping(
            metric=metric,
            expr=expr,
            device_label="UUID",
            scale=scale,
            labels=kept,
            dcgm_blanks=True,
            mig_label="GPU_I_ID",
        )

    return [
        m("gpu.utilization", "DCGM_FI_DEV_GPU_UTIL{$selector}"),
        m("gpu.memory.used_bytes", "DCGM_FI_DEV_FB_USED{$selector}", MIB),
        m("gpu.memory.total_bytes", "DCGM_FI_DEV_FB_USED{$selector} + DCGM_FI_DEV_FB_FREE{$selector}", MIB),
        m("gpu.power.watts", "DCGM_FI_DEV_POWER_USAGE{$selector}"),
        m("gpu.temperature.c", "DCGM_FI_DEV_GPU_TEMP{$selector}"),
        m("gpu.sm_clock.mhz", "DCGM_FI_DEV_SM_CLOCK{$selector}"),
    ]


_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def node_exporter_mappings(rate_window: str = "5m", device_label: str = "instance") -> list[MetricMapping]:
    """Mappings for Prometheus's node exporter; device key = ``device_label`` (``instance``).

    ``cpu.utilization`` is ``100 * (1 - avg by (instance)
    (rate(node_cpu_seconds_total{mode="idle"}[<rate_window>])))``; the window
    must hold at least two scrapes (four is the usual advice).
    """
    if not _DURATION.match(rate_window):
        raise CollectorConfigError(f"invalid rate window {rate_window!r} (expected a duration like 5m or 30s)")
    kept = {"job": "job"}

    def m(metric: str, expr: str, labels: Mapping[str, str] = kept) -> MetricMapping:
        return MetricMapping(
            metric=metric,
            expr=expr,
            device_label=device_label,
            labels=labels,
            params={"window": rate_window},
        )

    return [
        m(
            "cpu.utilization",
            '100 * (1 - avg by ($device_label) (rate(node_cpu_seconds_total{mode="idle",$selector}[$window])))',
            {},
        ),
        m("mem.available_bytes", "node_memory_MemAvailable_bytes{$selector}"),
        m("mem.total_bytes", "node_memory_MemTotal_bytes{$selector}"),
        m("device.up", "up{$selector}"),
        m("temperature.c", "max by ($device_label) (node_thermal_zone_temp{$selector})", {}),
    ]


PRESETS = {"dcgm": dcgm_mappings, "node_exporter": node_exporter_mappings}


def resolve_mappings(
    spec: str | MetricMapping | Mapping[str, Any] | Sequence[Any],
    rate_window: str = "5m",
    device_label: str | None = None,
) -> list[MetricMapping]:
    """Turn a mapping specification into a list of :class:`MetricMapping`.

    ``spec`` may be a preset name (``"dcgm"``, ``"node_exporter"``), a
    :class:`MetricMapping`, a mapping dict (see :meth:`MetricMapping.from_dict`),
    or a list mixing those.  ``rate_window`` and ``device_label`` apply to the
    node exporter preset.
    """
    if isinstance(spec, (str, MetricMapping, Mapping)):
        items: Sequence[Any] = [spec]
    else:
        items = list(spec)
    out: list[MetricMapping] = []
    for item in items:
        if isinstance(item, MetricMapping):
            out.append(item)
        elif isinstance(item, str):
            if item == "dcgm":
                out.extend(dcgm_mappings())
            elif item == "node_exporter":
                out.extend(node_exporter_mappings(rate_window, device_label or "instance"))
            else:
                raise CollectorConfigError(
                    f"unknown Prometheus mapping preset {item!r}; known: {', '.join(sorted(PRESETS))}"
                )
        elif isinstance(item, Mapping):
            out.append(MetricMapping.from_dict(item))
        else:
            raise CollectorConfigError(f"cannot use {item!r} as a Prometheus mapping")
    if not out:
        raise CollectorConfigError("no Prometheus mappings given")
    return out


# ---------------------------------------------------------------------------
# Collector and range queries


@dataclass(frozen=True)
class MappedSeries:
    """A range-query series mapped onto a govtrack metric and device."""

    device_key: str
    metric: str
    labels: dict[str, str]
    points: list[tuple[datetime, float]]

    def samples(self) -> list[Sample]:
        return [Sample(self.device_key, self.metric, ts, value, self.labels) for ts, value in self.points]

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]


def _map_points(mapping: MetricMapping, series: Series) -> tuple[list[tuple[datetime, float]], int]:
    points = []
    dropped = 0
    for ts, raw in series.points:
        if mapping.is_blank(raw):
            dropped += 1
            continue
        points.append((from_unix(ts), raw * mapping.scale))
    return points, dropped


def query_mapping_range(
    client: PrometheusClient,
    mapping: MetricMapping,
    start: datetime | float,
    end: datetime | float,
    step: timedelta | float | str,
    selector: str | Mapping[str, str] | None = None,
) -> list[MappedSeries]:
    """Run ``mapping`` as a range query over ``[start, end]``; blanks are dropped.

    Series without the device label are left out (and logged).
    """
    expr = mapping.render(selector)
    return _mapped_series(mapping, client.query_range(expr, start, end, step))


# A rendered mapping that is one series selector: its range reads the raw samples themselves.
_BARE_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$")
STEP_STATISTICS = ("avg", "min", "max", "count")


@dataclass
class SteppedSeries:
    """A device's steps (VictoriaMetrics): at each step's end ``t``, the ``(avg, min, max, count)`` of its samples
    in ``(t - step, t]``."""

    device_key: str
    metric: str
    labels: dict[str, str]
    steps: dict[int, tuple[float, float, float, int]]


def step_rollup_expr(
    mapping: MetricMapping, step_seconds: int, cadence_seconds: int, selector: str | Mapping[str, str] | None = None
) -> str:
    """MetricsQL answering, at each step's end ``t``, the avg, min, max and count of the mapping's raw samples in
    ``(t - step, t]``: VictoriaMetrics's ``rollup()`` (series labelled ``rollup="avg|min|max"``) beside
    ``count_over_time`` (labelled ``rollup="count"``), in one query.

    A mapping that is an expression rather than one series (the node exporter's CPU rate) is read as a subquery
    evaluated every ``cadence_seconds``: its samples are those evaluations.
    """
    rendered = mapping.render(selector)
    if _BARE_SELECTOR.match(rendered):
        window = f"{rendered}[{int(step_seconds)}s]"
    else:
        window = f"({rendered})[{int(step_seconds)}s:{int(cadence_seconds)}s]"
    return f'union(rollup({window}), label_set(count_over_time({window}), "rollup", "count"))'


def query_mapping_step_rollups(
    client: PrometheusClient,
    mapping: MetricMapping,
    start: datetime,
    end: datetime,
    step_seconds: int,
    cadence_seconds: int,
    selector: str | Mapping[str, str] | None = None,
) -> tuple[str, list[SteppedSeries]]:
    """The query and each device's steps over the window (a VictoriaMetrics source): one per step end from
    ``start + step`` to ``end``, with the avg, min, max and count of the step's raw samples (those of
    ``(start, end]`` in all).

    A step whose minimum or maximum is blank (a DCGM sentinel, NaN, an infinity) is left out rather than averaged
    in. Series of one device (its labels changed within the window, a new pod on the GPU) are merged step by step:
    count-weighted average, least minimum, greatest maximum, added counts.
    """
    if client.flavour != VICTORIAMETRICS:
        raise CollectorConfigError("step rollups are read from a VictoriaMetrics source (flavour victoriametrics)")
    expr = step_rollup_expr(mapping, step_seconds, cadence_seconds, selector)
    first = start + timedelta(seconds=step_seconds)
    by_series: dict[tuple, dict[int, dict[str, float]]] = {}
    names: dict[tuple, tuple[str, dict[str, str]]] = {}
    for series in client.query_range(expr, first, end, step_seconds):
        statistic, key = series.labels.get("rollup"), mapping.device_key(series.labels)
        if key is None or statistic not in STEP_STATISTICS:
            log.warning("series without %r or a rollup label skipped: %s", mapping.device_label, series.labels)
            continue
        identity = tuple(sorted((k, v) for k, v in series.labels.items() if k not in ("rollup", "__name__")))
        names[identity] = (key, mapping.map_labels(series.labels))
        steps = by_series.setdefault(identity, {})
        for ts, value in series.points:
            steps.setdefault(round(ts), {})[statistic] = value
    devices: dict[str, SteppedSeries] = {}
    for identity, steps in sorted(by_series.items()):  # in label order: the same labels whatever the answer's order
        key, labels = names[identity]
        device = devices.setdefault(key, SteppedSeries(key, mapping.metric, {}, {}))
        device.labels.update(labels)
        for ts, found in steps.items():
            if len(found) < len(STEP_STATISTICS) or mapping.is_blank(found["max"]) or mapping.is_blank(found["min"]):
                continue
            avg, low, high = (found[name] * mapping.scale for name in ("avg", "min", "max"))
            count = int(found["count"])
            before = device.steps.get(ts)
            if before is not None:
                total = before[3] + count
                avg = (before[0] * before[3] + avg * count) / total
                low, high, count = min(before[1], low), max(before[2], high), total
            device.steps[ts] = (avg, low, high, count)
    return expr, [devices[key] for key in sorted(devices) if devices[key].steps]


def _mapped_series(mapping: MetricMapping, result: QueryResult) -> list[MappedSeries]:
    out = []
    for series in result:
        key = mapping.device_key(series.labels)
        if key is None:
            log.warning("Prometheus series without %r label skipped: %s", mapping.device_label, series.labels)
            continue
        points, dropped = _map_points(mapping, series)
        if dropped:
            log.debug("dropped %d blank values of %s for %s", dropped, mapping.metric, key)
        if points:
            out.append(MappedSeries(key, mapping.metric, mapping.map_labels(series.labels), points))
    return out


class PrometheusCollector:
    """Collect govtrack metrics from Prometheus with one instant query per mapping.

    :param client: a :class:`PrometheusClient`.
    :param mappings: preset name(s), mapping dicts or :class:`MetricMapping`
        objects (see :func:`resolve_mappings`); default ``"dcgm"``.
    :param selector: label matchers added to every query (``'job="dcgm"'`` or
        ``{"job": "dcgm"}``).
    :param strict: raise when one mapping's query is rejected; with
        ``strict=False`` that mapping is skipped and the error kept in
        :attr:`errors`.  Unreachable/unavailable Prometheus always raises.

    After a collection, :attr:`warnings` holds Prometheus's warnings (partial
    data), :attr:`dropped` the number of blank/non-finite values left out and
    :attr:`skipped` the number of series without a device label.
    """

    kind = "prometheus"

    def __init__(
        self,
        client: PrometheusClient,
        mappings: Any = "dcgm",
        selector: str | Mapping[str, str] | None = None,
        strict: bool = True,
        rate_window: str = "5m",
        device_label: str | None = None,
    ):
        self.client = client
        self.mappings = resolve_mappings(mappings, rate_window=rate_window, device_label=device_label)
        self.selector = selector
        self.strict = strict
        self.warnings: list[str] = []
        self.errors: list[PrometheusError] = []
        self.dropped = 0
        self.skipped = 0

    def collect(self, time: datetime | float | None = None) -> list[Sample]:
        self.warnings = []
        self.errors = []
        self.dropped = 0
        self.skipped = 0
        samples: list[Sample] = []
        for mapping in self.mappings:
            expr = mapping.render(self.selector)
            try:
                result = self.client.query(expr, time=time)
            except PrometheusQueryError as exc:
                if self.strict:
                    raise
                log.error("Prometheus query for %s failed: %s", mapping.metric, exc)
                self.errors.append(exc)
                continue
            self.warnings.extend(result.warnings)
            for series in result:
                key = mapping.device_key(series.labels)
                if key is None:
                    self.skipped += 1
                    continue
                points, dropped = _map_points(mapping, series)
                self.dropped += dropped
                labels = mapping.map_labels(series.labels)
                for ts, value in points:
                    samples.append(Sample(key, mapping.metric, ts, value, labels))
        return samples

    def collect_range(
        self,
        start: datetime | float,
        end: datetime | float,
        step: timedelta | float | str,
        metrics: Iterable[str] | None = None,
    ) -> list[MappedSeries]:
        """Range-query every mapping (or only those for ``metrics``) over a window."""
        wanted = set(metrics) if metrics is not None else None
        out: list[MappedSeries] = []
        for mapping in self.mappings:
            if wanted is not None and mapping.metric not in wanted:
                continue
            out.extend(query_mapping_range(self.client, mapping, start, end, step, self.selector))
        return out


__all__ = [
    "DCGM_FP64_BLANK",
    "DCGM_INT32_BLANK",
    "DCGM_INT64_BLANK",
    "DCGM_LABELS",
    "FLAVOURS",
    "METRICS",
    "MappedSeries",
    "MetricMapping",
    "PrometheusClient",
    "PrometheusCollector",
    "QueryResult",
    "Series",
    "SteppedSeries",
    "dcgm_mappings",
    "format_selector",
    "is_dcgm_blank",
    "node_exporter_mappings",
    "query_mapping_range",
    "query_mapping_step_rollups",
    "resolve_mappings",
    "step_rollup_expr",
]
