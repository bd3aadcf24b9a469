"""govtrack compute hooks: collectors of GPU and edge-device metrics.

Collectors read a source (NVML, ``nvidia-smi``, Prometheus with the DCGM or
node exporter) and yield :class:`Sample` objects named after govtrack's own
metrics (:data:`METRICS`).  ``build_collector(kind, config)`` builds one
from a JSON-storable dict.  ``compute_hooks/edge_agent.py`` is a separate,
standard-library-only program that runs on edge boards and pushes samples to
govtrack's ingest API.

This package does not depend on Django.
"""

from .config import KINDS, build_collector
from .errors import (
    CollectorConfigError,
    CollectorError,
    CommandError,
    DriverNotFoundError,
    PrometheusAuthError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeoutError,
    PrometheusUnavailableError,
)
from .nvidia_smi import NvidiaSmiCollector, parse_nvidia_smi_csv
from .nvml import NvmlCollector
from .prometheus import (
    MappedSeries,
    MetricMapping,
    PrometheusClient,
    PrometheusCollector,
    QueryResult,
    Series,
    dcgm_mappings,
    is_dcgm_blank,
    node_exporter_mappings,
    query_mapping_range,
    query_mapping_step_rollups,
    resolve_mappings,
)
from .samples import (
    METRICS,
    Collector,
    MetricSpec,
    Sample,
    UnknownMetricError,
    format_ts,
    get_metric,
    parse_ts,
    samples_to_payload,
    utcnow,
)

__all__ = [
    "KINDS",
    "METRICS",
    "Collector",
    "CollectorConfigError",
    "CollectorError",
    "CommandError",
    "DriverNotFoundError",
    "MappedSeries",
    "MetricMapping",
    "MetricSpec",
    "NvidiaSmiCollector",
    "NvmlCollector",
    "PrometheusAuthError",
    "PrometheusClient",
    "PrometheusCollector",
    "PrometheusError",
    "PrometheusQueryError",
    "PrometheusTimeoutError",
    "PrometheusUnavailableError",
    "QueryResult",
    "Sample",
    "Series",
    "UnknownMetricError",
    "build_collector",
    "dcgm_mappings",
    "format_ts",
    "get_metric",
    "is_dcgm_blank",
    "node_exporter_mappings",
    "parse_nvidia_smi_csv",
    "parse_ts",
    "query_mapping_range",
    "query_mapping_step_rollups",
    "resolve_mappings",
    "samples_to_payload",
    "utcnow",
]
