"""VictoriaMetrics as a compute source: a real Prometheus remote-writes into it, exact values are imported into it,
and govtrack evaluates criteria there (a Prometheus source of flavour victoriametrics) through the egress gate.

The Debian package victoria-metrics runs on a free loopback port with a data directory of the test's own; the
loopback network is allowed by the compute conftest, as an operator allows an on-prem store.
"""

import datetime as dt
import json
import shutil
import subprocess
import time

import pytest
import requests
from django.utils import timezone

from apps.compute.models import ComputeSource
from apps.compute.services.sources import source_create
from apps.compute.services.verification import criterion_verify, report_rebuild
from tests.compute.conftest import compute_criterion, sealed
from tests.compute_hooks.conftest import LocalHTTPServer, QuietHandler, _require_services, _stop, _wait_for, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.services]

FLEET_METRICS = (
    b"# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
    b'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-busy",modelName="NVIDIA H200",Hostname="node-1"} 91\n'
    b'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-idle",modelName="NVIDIA H200",Hostname="node-1"} 55\n'
)


class FleetMetricsHandler(QuietHandler):
    """A static metrics page of two GPUs, what a DCGM exporter would show."""

    def do_GET(self):
        self.send_body(200, FLEET_METRICS, "text/plain; version=0.0.4")


def _start(args: list[str], log_path, cwd=None) -> subprocess.Popen:
    with open(log_path, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd)


@pytest.fixture(scope="module")
def victoria(tmp_path_factory):
    """victoria-metrics on loopback with a temporary data directory; yields its URL."""
    binary = shutil.which("victoria-metrics")
    if not binary:
        _require_services("needs the Debian package victoria-metrics")
    work = tmp_path_factory.mktemp("victoria")
    url = f"http://127.0.0.1:{free_port()}"
    log = work / "victoria.log"
    proc = _start(
        [
            binary,
            f"-storageDataPath={work / 'data'}",
            f"-httpListenAddr={url.removeprefix('http://')}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=1s",  # points a second old are answered (the default holds back 30 s)
            "-loggerLevel=WARN",
        ],
        log,
    )
    try:
        _wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, 30, "VictoriaMetrics", [("vm", proc, log)])
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def remote_writing_prometheus(victoria, tmp_path):
    """A real Prometheus scraping the two-GPU page every 2 s and remote-writing into VictoriaMetrics."""
    binary = shutil.which("prometheus")
    if not binary:
        _require_services("needs the Debian package prometheus")
    page = LocalHTTPServer(FleetMetricsHandler).start()
    port = free_port()
    config = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s"},  # a loaded machine answers late
        "scrape_configs": [{"job_name": "fleet", "static_configs": [{"targets": [f"127.0.0.1:{page.port}"]}]}],
        "remote_write": [{"url": f"{victoria}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
    log = tmp_path / "prometheus.log"
    args = [binary, "--config.file=prometheus.yml", "--storage.tsdb.path=data", "--log.level=warn"]
    proc = _start([*args, f"--web.listen-address=127.0.0.1:{port}"], log, cwd=tmp_path)
    try:
        yield [("prometheus", proc, log)]
    finally:
        _stop(proc)
        page.stop()


def victoria_source(org, people, url, *, cadence_seconds, **config):
    return source_create(
        organization=org,
        by=people["engineer"],
        name="fleet store",
        kind="prometheus",
        config={"url": url, "flavour": "victoriametrics", "mappings": "dcgm", **config},
        enabled=False,
        cadence_seconds=cadence_seconds,
        lateness_seconds=0,
    )


def test_a_criterion_reads_what_prometheus_remote_wrote_into_victoriametrics(
    org, people, milestone, victoria, remote_writing_prometheus
):
    def written():
        query = {"query": 'count_over_time(DCGM_FI_DEV_GPU_UTIL{job="fleet"}[30s])'}
        series = requests.get(f"{victoria}/api/v1/query", params=query, timeout=2).json()["data"]["result"]
        return len(series) == 2 and all(float(s["value"][1]) >= 5 for s in series)

    _wait_for(written, 60, "Prometheus's remote writes in VictoriaMetrics", remote_writing_prometheus)
    source = victoria_source(org, people, victoria, cadence_seconds=2, selector={"job": "fleet"})
    minute = timezone.now().replace(second=0, microsecond=0)
    end = minute + dt.timedelta(minutes=1)

    def written_in_the_window():  # at least 5 scrapes inside the minute evaluated (a busy machine scrapes late)
        seconds = min(int((timezone.now() - minute).total_seconds()), 60)
        if seconds < 10:
            return False
        query = {
            "query": f'count_over_time(DCGM_FI_DEV_GPU_UTIL{{job="fleet"}}[{seconds}s])',
            "time": minute.timestamp() + seconds,
        }
        series = requests.get(f"{victoria}/api/v1/query", params=query, timeout=2).json()["data"]["result"]
        return len(series) == 2 and all(float(s["value"][1]) >= 5 for s in series)

    _wait_for(written_in_the_window, 90, "five scrapes inside the evaluated minute", remote_writing_prometheus)
    criterion = compute_criterion(
        milestone,
        people["finance"],
        threshold=70,
        mode="per_device",
        promql=True,
        source=str(source.pk),
        step_seconds=10,
        start=(minute - dt.timedelta(minutes=1)).isoformat(),
        end=end.isoformat(),
        min_coverage="0.02",
    )
    report = criterion_verify(criterion=criterion, now=sealed(end, lateness=0))
    document = json.loads(report.canonical_json)
    if not document["devices"]:  # say what the store answers to the very query, to tell why
        first = (minute - dt.timedelta(minutes=1) + dt.timedelta(seconds=10)).timestamp()
        answer = {"query": report.query, "start": first, "end": end.timestamp(), "step": 10, "nocache": 1}
        pytest.fail(requests.post(f"{victoria}/api/v1/query_range", data=answer, timeout=10).text[:2000])
    assert report.source == "promql" and report.passed, document["result"]
    steps = 'DCGM_FI_DEV_GPU_UTIL{job="fleet"}[10s]'
    assert report.query == f'union(rollup({steps}), label_set(count_over_time({steps}), "rollup", "count"))'
    by_key = {d["key"]: d for d in document["devices"]}
    assert sorted(by_key) == ["GPU-busy", "GPU-idle"]
    assert by_key["GPU-busy"]["labels"] == {"host": "node-1", "index": "0", "name": "NVIDIA H200"}
    # Each 10 s step: avg, min, max and count of the scrapes Prometheus wrote (one every 2 s).
    assert {tuple(p[1:4]) for p in by_key["GPU-busy"]["points"]} == {("91", "91", "91")}
    assert {tuple(p[1:4]) for p in by_key["GPU-idle"]["points"]} == {("55", "55", "55")}
    # How many scrapes land inside the minute follows the machine's load (Prometheus scrapes late when it is busy).
    assert 1 <= by_key["GPU-busy"]["samples"] <= by_key["GPU-busy"]["expected_samples"] == 60
    assert (by_key["GPU-busy"]["passes"], by_key["GPU-idle"]["passes"]) == (True, False)
    assert document["result"]["devices_counted"] == 1

    # The report is its own evidence: it rebuilds to the same hash with the store gone from its URL.
    ComputeSource.objects.filter(pk=source.pk).update(config={"url": f"http://127.0.0.1:{free_port()}"})
    assert report_rebuild(report=report).ok


def _import(url: str, series: list[tuple[dict, list[tuple[int, float]]]]) -> None:
    lines = [
        json.dumps({"metric": labels, "values": [v for _, v in points], "timestamps": [ts * 1000 for ts, _ in points]})
        for labels, points in series
    ]
    requests.post(f"{url}/api/v1/import", data="\n".join(lines), timeout=10).raise_for_status()
    requests.get(f"{url}/internal/force_flush", timeout=10).raise_for_status()


def gpu(key: str, **labels) -> dict:
    return {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": key, "job": "dcgm-import", **labels}


def test_imported_values_give_exact_step_averages_verdict_and_coverage(org, people, milestone, victoria):
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=2)
    first, last = int(start.timestamp()), int(end.timestamp())
    inside = range(first + 5, last, 10)  # 720 samples, 60 in each 10-minute step
    blank_at = first + 2 * 600 + 305  # one DCGM blank sentinel in the third step of GPU-spotty
    pod_change = first + 5 * 600 + 305  # GPU-b's pod is replaced in the middle of its sixth step
    _import(
        victoria,
        [
            # Zeros just outside the window: a step that reached past its edge would not average 82.5.
            (gpu("GPU-a"), [(first - 5, 0.0), *((ts, 80.0 + i % 6) for i, ts in enumerate(inside)), (last + 5, 0.0)]),
            (gpu("GPU-b", pod="trainer-1"), [(ts, 60.0) for ts in inside if ts < pod_change]),
            (gpu("GPU-b", pod="trainer-2"), [(ts, 60.0) for ts in inside if ts >= pod_change]),
            (gpu("GPU-spotty"), [(ts, 2147483632.0 if ts == blank_at else 90.0) for ts in inside]),
        ],
    )
    source = victoria_source(org, people, victoria, cadence_seconds=10, selector={"job": "dcgm-import"})
    criterion = compute_criterion(
        milestone,
        people["finance"],
        threshold=70,
        min_devices=2,
        promql=True,
        source=str(source.pk),
        step_seconds=600,
        start=start.isoformat(),
        end=end.isoformat(),
    )
    started = time.monotonic()
    report = criterion_verify(criterion=criterion)
    assert time.monotonic() - started < 10
    document = json.loads(report.canonical_json)
    by_key = {d["key"]: d for d in document["devices"]}
    step_ends = [first + 600 * i for i in range(1, 13)]
    assert [p[0] for p in by_key["GPU-a"]["points"]] == step_ends
    # Each step: avg, min, max and count of its 60 raw samples, as a per-minute rollup keeps a minute.
    assert {tuple(p[1:]) for p in by_key["GPU-a"]["points"]} == {("82.5", "80", "85", 60)}
    # GPU-b's two series (a new pod in mid-step) are one device: each step holds its 60 samples.
    gpu_b = by_key["GPU-b"]
    assert {tuple(p[1:]) for p in gpu_b["points"]} == {("60", "60", "60", 60)}
    assert (gpu_b["samples"], gpu_b["expected_samples"], gpu_b["value"]) == (720, 720, "60")
    # The step holding a blank is left out, not averaged in: 660 of 720 samples, below the 0.95 coverage asked.
    spotty = by_key["GPU-spotty"]
    assert len(spotty["points"]) == 11 and spotty["points"][2][0] == step_ends[3]
    assert (spotty["coverage"], spotty["covered"]) == ("0.9166", False)
    assert document["result"]["fleet_value"] == "71.25"  # GPU-a and GPU-b, every step alike
    assert (document["result"]["devices_counted"], report.passed) == (2, True)

    # The hash rebuilds from the report alone, with the store stopped answering at that URL.
    ComputeSource.objects.filter(pk=source.pk).update(config={"url": f"http://127.0.0.1:{free_port()}"})
    assert report_rebuild(report=report).ok


def test_an_expression_mapping_is_read_every_cadence_within_each_step(org, people, milestone, victoria):
    """The node exporter's CPU utilization is a rate over counters, not one series: its samples are the
    expression's values every cadence_seconds within each step. The window starts off the steps' multiples (at
    minute 1 of an hour, 2-minute steps): the answer is of that very window, not one rounded to the step."""
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    start = end - dt.timedelta(minutes=119)
    first, last = int(start.timestamp()), int(end.timestamp())
    idle = {"__name__": "node_cpu_seconds_total", "mode": "idle", "cpu": "0", "instance": "board-1", "job": "edge"}
    # 2.5 idle seconds every 10 s: 25 % idle, 75 % busy, from ten minutes before the window to ten after it.
    _import(victoria, [(idle, [(ts, 2.5 * i) for i, ts in enumerate(range(first - 600, last + 600, 10))])])
    source = source_create(
        organization=org,
        by=people["engineer"],
        name="edge store",
        kind="prometheus",
        config={"url": victoria, "flavour": "victoriametrics", "mappings": "node_exporter", "rate_window": "1m"},
        device_kind="edge",
        enabled=False,
        cadence_seconds=10,
        lateness_seconds=0,
    )
    criterion = compute_criterion(
        milestone,
        people["finance"],
        metric="cpu.utilization",
        threshold=70,
        promql=True,
        source=str(source.pk),
        step_seconds=120,
        start=start.isoformat(),
        end=end.isoformat(),
    )
    report = criterion_verify(criterion=criterion)
    (board,) = json.loads(report.canonical_json)["devices"]
    assert "[120s:10s]" in report.query
    assert board["key"] == "board-1"
    assert [p[0] for p in board["points"]] == [first + 120 * k for k in range(1, 60)]
    assert {tuple(p[1:]) for p in board["points"]} == {("75", "75", "75", 12)}
    assert (board["coverage"], report.passed) == ("0.9915", True)  # 59 steps of 12 of the 714 samples expected


def test_a_flavour_other_than_prometheus_or_victoriametrics_is_a_400_naming_the_config(org, people, client_for):
    response = client_for(people["engineer"]).post(
        "/api/compute/sources/",
        {"name": "store", "kind": "prometheus", "config": {"url": "http://store.example:8428", "flavour": "influx"}},
        format="json",
    )
    assert response.status_code == 400
    assert "'flavour' must be one of prometheus, victoriametrics" in response.json()["extra"]["fields"]["config"][0]
