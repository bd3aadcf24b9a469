"""Prometheus collector against a real Prometheus scraping a real node exporter.

The ``prometheus_stack`` fixture (conftest.py) runs Debian's ``prometheus``
and ``prometheus-node-exporter`` on loopback ports, scraping every second.
Prometheus also scrapes a recorded DCGM exporter page (see
``test_dcgm_exporter_mapping``) and a target where nothing listens.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest

from compute_hooks import (
    MetricMapping,
    PrometheusClient,
    PrometheusCollector,
    PrometheusQueryError,
    build_collector,
    node_exporter_mappings,
    query_mapping_range,
)

MIB = 1048576

pytestmark = pytest.mark.services


def _meminfo_total() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def node_collector(stack, **kwargs):
    client = PrometheusClient(stack.url, timeout=5)
    return PrometheusCollector(
        client, mappings="node_exporter", selector={"job": "node"}, rate_window=stack.rate_window, **kwargs
    )


def test_up_maps_to_device_up(prometheus_stack):
    samples = node_collector(prometheus_stack).collect()
    up = [s for s in samples if s.metric == "device.up"]
    assert [(s.device_key, s.value, s.labels) for s in up] == [(prometheus_stack.node_target, 1.0, {"job": "node"})]
    assert up[0].timestamp.tzinfo == UTC
    assert abs((datetime.now(UTC) - up[0].timestamp).total_seconds()) < 30


def test_stopped_target_is_down(prometheus_stack):
    client = PrometheusClient(prometheus_stack.url)
    collector = PrometheusCollector(client, mappings="node_exporter", selector='job="edge-down"')
    up = [s for s in collector.collect() if s.metric == "device.up"]
    assert [(s.device_key, s.value) for s in up] == [(prometheus_stack.dead_target, 0.0)]


def test_memory_is_plausible(prometheus_stack):
    samples = {s.metric: s for s in node_collector(prometheus_stack).collect()}
    total = samples["mem.total_bytes"].value
    available = samples["mem.available_bytes"].value
    assert total == _meminfo_total()
    assert 0 < available < total
    assert samples["mem.available_bytes"].device_key == prometheus_stack.node_target


def test_cpu_utilization_over_rate_window(prometheus_stack):
    prometheus_stack.wait_rate_window()
    collector = node_collector(prometheus_stack)
    cpu = []
    deadline = time.monotonic() + 15
    while not cpu and time.monotonic() < deadline:
        cpu = [s for s in collector.collect() if s.metric == "cpu.utilization"]
        if not cpu:
            time.sleep(0.5)
    assert len(cpu) == 1, "no cpu.utilization after a full rate window"
    assert cpu[0].device_key == prometheus_stack.node_target
    assert 0.0 <= cpu[0].value <= 100.0
    assert cpu[0].labels == {}
    assert (
        collector.mappings[0].render(collector.selector)
        == '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",job="node"}[5s])))'
    )


def test_bad_promql_carries_prometheus_message(prometheus_stack):
    client = PrometheusClient(prometheus_stack.url)
    with pytest.raises(PrometheusQueryError) as info:
        client.query("sum(rate(up[5s])")
    error = info.value
    assert error.status_code == 400 and error.error_type == "bad_data"
    assert "parse error" in error.error
    assert "rejected query 'sum(rate(up[5s])' (HTTP 400): bad_data: " in str(error)
    assert not error.retryable

    collector = PrometheusCollector(
        client, mappings=[{"metric": "gpu.utilization", "expr": "avg by (UUID (DCGM_FI_DEV_GPU_UTIL"}]
    )
    with pytest.raises(PrometheusQueryError, match="parse error"):
        collector.collect()
    lenient = PrometheusCollector(
        client,
        mappings=[{"metric": "gpu.utilization", "expr": "avg by (UUID (x"}, "node_exporter"],
        selector={"job": "node"},
        strict=False,
    )
    samples = lenient.collect()
    assert any(s.metric == "device.up" for s in samples)
    assert len(lenient.errors) == 1 and lenient.errors[0].status_code == 400


def test_range_query(prometheus_stack):
    prometheus_stack.wait_rate_window()
    client = PrometheusClient(prometheus_stack.url)
    end = datetime.now(UTC)
    start = end - timedelta(seconds=4)
    result = client.query_range('up{job="node"}', start, end, step=1)
    assert result.result_type == "matrix" and len(result) == 1
    series = result.series[0]
    assert series.labels["instance"] == prometheus_stack.node_target
    assert len(series.points) >= 3
    assert all(value == 1.0 for _, value in series.points)
    assert all(start.timestamp() - 0.001 <= ts <= end.timestamp() + 0.001 for ts, _ in series.points)

    cpu_mapping = next(m for m in node_exporter_mappings(prometheus_stack.rate_window) if m.metric == "cpu.utilization")
    end = datetime.now(UTC)
    mapped = query_mapping_range(client, cpu_mapping, end - timedelta(seconds=3), end, "1s", {"job": "node"})
    assert len(mapped) == 1 and mapped[0].device_key == prometheus_stack.node_target
    assert len(mapped[0].points) >= 2
    assert all(0.0 <= v <= 100.0 for v in mapped[0].values)
    assert all(p[0].tzinfo == UTC for p in mapped[0].points)
    assert {s.metric for s in mapped[0].samples()} == {"cpu.utilization"}


def test_dcgm_exporter_mapping(prometheus_stack):
    """DCGM metrics through the real Prometheus, from a recorded exporter page.

    No DCGM exporter can run on a test machine (it needs NVIDIA GPUs and the
    DCGM host engine), so the exporter's ``/metrics`` text is recorded
    (tests/compute_hooks/recorded/dcgm_exporter_metrics.txt, DCGM exporter
    3.x format) and served by a small local HTTP endpoint that the real
    Prometheus scrapes like any exporter.  GPU 1 carries two DCGM blank
    sentinels (power 140737488355328, SM clock 2147483632); both must be
    dropped.
    """
    collector = build_collector(
        "prometheus", {"url": prometheus_stack.url, "mappings": "dcgm", "selector": {"job": "dcgm"}}
    )
    samples = collector.collect()
    got = {(s.device_key, s.metric): s for s in samples}
    gpu0 = "GPU-5f2c7c52-0a9e-3c1b-8d3e-1b2a4c6d8e01"
    gpu1 = "GPU-9a61d0e4-7b3f-4c2a-a1d5-6e8f0b2c4d13"
    gpu2 = "GPU-c3e8f1a2-5d7b-4e9c-b0a6-2f4d6e8a0c25"

    assert got[(gpu0, "gpu.utilization")].value == 87
    assert got[(gpu0, "gpu.memory.used_bytes")].value == 61440 * MIB
    assert got[(gpu0, "gpu.memory.total_bytes")].value == (61440 + 19963) * MIB
    assert got[(gpu0, "gpu.power.watts")].value == pytest.approx(512.345)
    assert got[(gpu0, "gpu.temperature.c")].value == 64
    assert got[(gpu0, "gpu.sm_clock.mhz")].value == 1980
    assert got[(gpu0, "gpu.utilization")].labels == {
        "index": "0",
        "name": "NVIDIA H100 80GB HBM3",
        "host": "dgx-h100-07",
        "pod": "finetune-job-0",
        "namespace": "research",
        "container": "trainer",
    }

    # Blank sentinels dropped; the rest of GPU 1 is reported.
    assert (gpu1, "gpu.power.watts") not in got
    assert (gpu1, "gpu.sm_clock.mhz") not in got
    assert got[(gpu1, "gpu.temperature.c")].value == 31
    assert got[(gpu1, "gpu.utilization")].value == 0
    assert "pod" not in got[(gpu1, "gpu.utilization")].labels
    assert collector.dropped == 2

    # MIG instances of GPU 2 become their own devices, the GPU stays the parent.
    mig1 = got[(f"{gpu2}/mig1", "gpu.memory.used_bytes")]
    assert mig1.value == 20480 * MIB
    assert mig1.labels["parent"] == gpu2 and mig1.labels["mig_profile"] == "3g.40gb"
    assert mig1.labels["pod"] == "vllm-7d9f8c6b5-x2kqp"
    assert got[(f"{gpu2}/mig9", "gpu.memory.total_bytes")].value == (4352 + 5632) * MIB
    assert got[(gpu2, "gpu.power.watts")].value == 301.5

    assert len(samples) == 2 + 4 + 4 + 2 + 3 + 2
    assert all(s.metric in {m.metric for m in collector.mappings} for s in samples)


def test_custom_mapping_with_scale(prometheus_stack):
    client = PrometheusClient(prometheus_stack.url)
    mapping = MetricMapping(
        metric="gpu.memory.used_bytes",
        expr="max by (UUID) (DCGM_FI_DEV_FB_USED{$selector})",
        device_label="UUID",
        scale=MIB,
        dcgm_blanks=True,
    )
    samples = PrometheusCollector(client, mappings=[mapping], selector='job="dcgm"').collect()
    values = {s.device_key: s.value for s in samples}
    assert values["GPU-c3e8f1a2-5d7b-4e9c-b0a6-2f4d6e8a0c25"] == 20480 * MIB
    assert len(values) == 3
