"""Sample, metric registry, error family and build_collector()."""

import ast
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import compute_hooks
from compute_hooks import (
    METRICS,
    Collector,
    CollectorConfigError,
    CollectorError,
    NvidiaSmiCollector,
    NvmlCollector,
    PrometheusCollector,
    Sample,
    UnknownMetricError,
    build_collector,
    format_ts,
    get_metric,
    parse_ts,
    samples_to_payload,
)

TS = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
PACKAGE = Path(compute_hooks.__file__).resolve().parent


def test_sample_normalises_and_serialises():
    plus_one = timezone(timedelta(hours=1))
    s = Sample("GPU-1", "gpu.utilization", datetime(2026, 11, 26, 19, 0, tzinfo=plus_one), 12, {"index": 0})
    assert s.timestamp == TS and s.timestamp.tzinfo == UTC
    assert s.value == 12.0 and isinstance(s.value, float)
    assert s.labels == {"index": "0"}
    assert s.to_wire() == {
        "metric": "gpu.utilization",
        "ts": "2026-11-26T18:00:00.000000Z",
        "value": 12.0,
        "labels": {"index": "0"},
    }
    assert samples_to_payload("GPU-1", [s]) == {"device": "GPU-1", "samples": [s.to_wire()]}
    assert s.spec is METRICS["gpu.utilization"]
    assert hash(s) == hash(Sample("GPU-1", "gpu.utilization", TS, 12.0, {"index": "0"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.value = 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timestamp": datetime(2026, 11, 26)},  # naive
        {"value": float("nan")},
        {"value": float("inf")},
        {"device_key": ""},
        {"metric": ""},
    ],
)
def test_sample_rejects_bad_values(kwargs):
    base = {"device_key": "d", "metric": "cpu.utilization", "timestamp": TS, "value": 1.0}
    base.update(kwargs)
    with pytest.raises(ValueError):
        Sample(**base)


def test_registry_units_and_lookup():
    assert {
        "gpu.utilization",
        "gpu.memory.used_bytes",
        "gpu.memory.total_bytes",
        "gpu.power.watts",
        "gpu.temperature.c",
        "gpu.sm_clock.mhz",
        "cpu.utilization",
        "mem.available_bytes",
        "mem.total_bytes",
        "device.up",
        "temperature.c",
    } <= set(METRICS)
    assert get_metric("gpu.power.watts").unit == "watts"
    assert get_metric("cpu.utilization").unit == "percent"
    assert get_metric("device.up").check(1) and not get_metric("device.up").check(2)
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'gpu\.bogus'"):
        get_metric("gpu.bogus")


def test_timestamp_helpers_roundtrip():
    assert format_ts(TS) == "2026-11-26T18:00:00.000000Z"
    assert parse_ts("2026-11-26T18:00:00.000000Z") == TS
    assert parse_ts("2026-11-26T19:00:00+01:00") == TS
    with pytest.raises(ValueError):
        parse_ts("2026-11-26T18:00:00")


def test_build_collector_from_json_config():
    config = json.loads(
        json.dumps(
            {
                "url": "http://prometheus:9090/",
                "timeout": 3,
                "bearer_token": "abc",
                "verify": False,
                "mappings": [
                    "dcgm",
                    "node_exporter",
                    {"metric": "gpu.utilization", "expr": "my_util{$selector}", "device_label": "gpu_uuid"},
                ],
                "selector": {"cluster": "eu-1"},
                "rate_window": "2m",
            }
        )
    )
    collector = build_collector("prometheus", config)
    assert isinstance(collector, PrometheusCollector) and isinstance(collector, Collector)
    assert collector.client.base_url == "http://prometheus:9090"
    assert collector.client.headers["Authorization"] == "Bearer abc"
    assert collector.client.verify is False
    rendered = [m.render(collector.selector) for m in collector.mappings]
    assert 'DCGM_FI_DEV_GPU_UTIL{cluster="eu-1"}' in rendered
    assert '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",cluster="eu-1"}[2m])))' in rendered
    assert 'my_util{cluster="eu-1"}' in rendered

    smi = build_collector("nvidia_smi", {"binary": "/opt/nvidia/bin/nvidia-smi", "timeout": 4, "host": "n1"})
    assert isinstance(smi, NvidiaSmiCollector) and smi.timeout == 4.0 and smi.host == "n1"
    nvml = build_collector("nvml", {"include_mig": False})
    assert isinstance(nvml, NvmlCollector) and nvml.include_mig is False
    basic = build_collector("prometheus", {"url": "https://p", "basic_auth": {"username": "u", "password": "p"}})
    assert basic.client.auth == ("u", "p")


@pytest.mark.parametrize(
    "kind, config, message",
    [
        ("dcgm", {}, "unknown collector kind 'dcgm'"),
        ("nvml", {"hots": "x"}, "unknown key(s) for a nvml collector: hots"),
        ("nvidia_smi", {"timeout": 0}, "'timeout' must be a positive number"),
        ("nvidia_smi", {"timeout": "5"}, "'timeout' must be a positive number"),
        ("prometheus", {}, "needs 'url'"),
        ("prometheus", {"url": "prometheus:9090"}, "must start with http"),
        ("prometheus", {"url": "http://p", "mappings": "graphite"}, "unknown Prometheus mapping preset 'graphite'"),
        (
            "prometheus",
            {"url": "http://p", "mappings": [{"metric": "gpu.nope", "expr": "x"}]},
            "unknown metric 'gpu.nope'",
        ),
        ("prometheus", {"url": "http://p", "mappings": [{"metric": "gpu.utilization"}]}, "non-empty 'expr'"),
        (
            "prometheus",
            {"url": "http://p", "mappings": "node_exporter", "rate_window": "5 minutes"},
            "invalid rate window",
        ),
        ("prometheus", {"url": "http://p", "bearer_token": "t", "basic_auth": ["u", "p"]}, "not both"),
        ("prometheus", {"url": "http://p", "selector": {"bad-label": "x"}}, None),
    ],
)
def test_build_collector_rejects_bad_config(kind, config, message):
    if message is None:
        # Selector label names are checked when the query is rendered.
        collector = build_collector(kind, config)
        with pytest.raises(CollectorConfigError, match="invalid Prometheus label name"):
            collector.mappings[0].render(collector.selector)
        return
    with pytest.raises(CollectorError) as info:
        build_collector(kind, config)
    assert message in str(info.value)
    assert isinstance(info.value, (CollectorConfigError, UnknownMetricError))


def test_package_does_not_import_django():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "django" or n.startswith("django.") for n in names), f"{path.name} imports Django"
