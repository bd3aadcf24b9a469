"""Samples, the metric registry and the collector protocol.

A :class:`Sample` is one reading of one govtrack metric on one device at one
instant.  Every collector, whatever its source (NVML, ``nvidia-smi``,
Prometheus, the edge agent), maps what it reads onto the metric names of
:data:`METRICS`, so that the rest of govtrack never sees source-specific
names or units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from .errors import CollectorError

WIRE_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class MetricSpec:
    """One metric govtrack knows: its name, unit and meaning."""

    name: str
    unit: str
    description: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: float) -> bool:
        """True when ``value`` lies in the metric's valid range."""
        too_low = self.minimum is not None and value < self.minimum
        too_high = self.maximum is not None and value > self.maximum
        return not (too_low or too_high)


def _spec(name, unit, description, minimum=None, maximum=None) -> MetricSpec:
    return MetricSpec(name, unit, description, minimum, maximum)


#: govtrack's metric names. Units: ``percent`` 0-100, ``bytes``, ``watts``,
#: ``celsius``, ``megahertz``, ``boolean`` 0/1.
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _spec("gpu.utilization", "percent", "Share of time a GPU kernel was running", 0, 100),
        _spec("gpu.memory.used_bytes", "bytes", "GPU frame buffer memory in use", 0),
        _spec("gpu.memory.total_bytes", "bytes", "GPU frame buffer memory installed", 0),
        _spec("gpu.power.watts", "watts", "GPU board power draw", 0),
        _spec("gpu.temperature.c", "celsius", "GPU core temperature"),
        _spec("gpu.sm_clock.mhz", "megahertz", "GPU streaming multiprocessor clock", 0),
        _spec("cpu.utilization", "percent", "Share of CPU time not idle", 0, 100),
        _spec("mem.available_bytes", "bytes", "Memory available to new work", 0),
        _spec("mem.total_bytes", "bytes", "Memory installed", 0),
        _spec("device.up", "boolean", "1 when the device answered its last check, else 0", 0, 1),
        _spec("temperature.c", "celsius", "Board thermal zone temperature (edge devices)"),
    )
}


def get_metric(name: str) -> MetricSpec:
    """Return the :class:`MetricSpec` for ``name``; raise :class:`UnknownMetricError`."""
    try:
        return METRICS[name]
    except KeyError:
        known = ", ".join(sorted(METRICS))
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {known}") from None


class UnknownMetricError(CollectorError, ValueError):
    """A metric name that is not in govtrack's registry."""


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """Render a datetime in the ingest wire format ``2026-11-26T18:00:00.000000Z``."""
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return ts.astimezone(UTC).strftime(WIRE_TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset) into an aware UTC datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone")
    return ts.astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    """A Unix timestamp (seconds, may be fractional) as an aware UTC datetime."""
    return datetime.fromtimestamp(float(seconds), tz=UTC)


@dataclass(frozen=True)
class Sample:
    """One reading: ``value`` of ``metric`` on ``device_key`` at ``timestamp``.

    ``timestamp`` must be timezone-aware; it is normalised to UTC.  ``value`` is
    stored as a float.  ``labels`` is a copy of the given mapping with string
    keys and values.
    """

    device_key: str
    metric: str
    timestamp: datetime
    value: float
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.device_key, str) or not self.device_key:
            raise ValueError("device_key must be a non-empty string")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError("metric must be a non-empty string")
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise ValueError("timestamp must be a timezone-aware datetime")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        value = float(self.value)
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"value of {self.metric} must be finite, got {self.value!r}")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels or {}).items()})

    def __hash__(self) -> int:
        return hash((self.device_key, self.metric, self.timestamp, self.value, tuple(sorted(self.labels.items()))))

    @property
    def spec(self) -> MetricSpec | None:
        """The registry entry for this sample's metric, if it is a known one."""
        return METRICS.get(self.metric)

    def to_wire(self) -> dict:
        """This sample as one element of the ingest API's ``samples`` list."""
        return {
            "metric": self.metric,
            "ts": format_ts(self.timestamp),
            "value": self.value,
            "labels": dict(self.labels),
        }


def samples_to_payload(device_key: str, samples: Iterable[Sample]) -> dict:
    """Build an ingest API request body ``{"device": ..., "samples": [...]}``."""
    return {"device": device_key, "samples": [s.to_wire() for s in samples]}


@runtime_checkable
class Collector(Protocol):
    """Anything that yields :class:`Sample` objects when asked."""

    def collect(self) -> Iterable[Sample]:  # pragma: no cover - protocol
        ...


def clean_labels(labels: Mapping[str, object]) -> dict[str, str]:
    """Drop empty label values and turn the rest into strings."""
    return {str(k): str(v) for k, v in labels.items() if v is not None and str(v) != ""}
