"""Prometheus HTTP API answers a real Prometheus cannot be made to give on demand.

A real Prometheus answers 422 only for particular execution failures, 503
only when overloaded or timing out, and attaches warnings only for partial
data from remote storage; none can be triggered reliably in a test.  A small
local HTTP server answers with those responses instead, in the shape
Prometheus's API documents (``status``, ``errorType``, ``error``,
``warnings``).  Bad PromQL (400) is tested against the real Prometheus in
test_hooks_prometheus_live.py.
"""

import base64
import json
import time
from datetime import UTC
from urllib.parse import parse_qs

import pytest

from compute_hooks import (
    PrometheusAuthError,
    PrometheusClient,
    PrometheusCollector,
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeoutError,
    PrometheusUnavailableError,
    is_dcgm_blank,
)
from compute_hooks.prometheus import DCGM_FP64_BLANK, DCGM_INT32_BLANK, DCGM_INT64_BLANK

NOW = 1764180000.0
UUID = "GPU-5f2c7c52-0a9e-3c1b-8d3e-1b2a4c6d8e01"


def vector(*items):
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [NOW, value]} for labels, value in items],
        },
    }


CANNED = {
    "execution_fail": (
        422,
        {
            "status": "error",
            "errorType": "execution",
            "error": 'found duplicate series for the match group {instance="a"} '
            "on the right hand-side of the operation",
        },
    ),
    "overloaded": (
        503,
        {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"},
    ),
    "proxy_502": (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "error_in_200": (200, {"status": "error", "errorType": "bad_data", "error": "unknown function"}),
    "not_json": (200, "hello"),
    "partial": (
        200,
        dict(
            vector(
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": UUID, "gpu": "0"}, "55"),
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-2", "gpu": "1"}, "NaN"),
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-3", "gpu": "2"}, "+Inf"),
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-4", "gpu": "3"}, "9223372036854775807"),
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-5", "gpu": "4"}, "2147483647"),
                ({"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "5"}, "12"),  # no UUID label
            ),
            warnings=["remote read of store 'eu-west' failed: context deadline exceeded; results may be partial"],
        ),
    ),
    "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [NOW, "42"]}}),
    "too_deep": (200, "[" * 100_000),
    "large": (200, {"status": "success", "data": {"resultType": "scalar", "result": [NOW, "1" * 5000]}}),
    "string": (200, {"status": "success", "data": {"resultType": "string", "result": [NOW, "hi"]}}),
}


def _handler_factory():
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        seen = []

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            Handler.seen.append({"path": self.path, "form": form, "headers": dict(self.headers)})
            query = form.get("query", "")
            if query == "slow":
                time.sleep(1.5)
                status, body = CANNED["scalar"]
            elif query == "needs_auth":
                auth = self.headers.get("Authorization", "")
                ok = auth in ("Bearer s3cret", "Basic " + base64.b64encode(b"grafana:pw").decode())
                status, body = (200, CANNED["scalar"][1]) if ok else (401, "Unauthorized\n")
            else:
                status, body = CANNED.get(query, (400, {"status": "error", "errorType": "bad_data", "error": "?"}))
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture
def api():
    import threading
    from http.server import ThreadingHTTPServer

    handler = _handler_factory()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.seen = handler.seen
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_422_execution_error(api):
    with pytest.raises(PrometheusQueryError) as info:
        PrometheusClient(api.url).query("execution_fail")
    err = info.value
    assert (err.status_code, err.error_type, err.retryable) == (422, "execution", False)
    assert "(HTTP 422): execution: found duplicate series" in str(err)


def test_503_is_retryable(api):
    with pytest.raises(PrometheusUnavailableError) as info:
        PrometheusClient(api.url).query("overloaded")
    assert info.value.status_code == 503 and info.value.retryable
    assert "unavailable (HTTP 503): timeout: query timed out" in str(info.value)


def test_other_answers(api):
    client = PrometheusClient(api.url)
    with pytest.raises(PrometheusUnavailableError, match=r"HTTP 502\): <html>"):
        client.query("proxy_502")
    with pytest.raises(PrometheusQueryError, match="bad_data: unknown function"):
        client.query("error_in_200")
    with pytest.raises(PrometheusError, match="not API JSON: hello"):
        client.query("not_json")
    with pytest.raises(PrometheusQueryError, match="string result"):
        client.query("string")
    scalar = client.query("scalar", time=NOW)
    assert scalar.result_type == "scalar" and scalar.series[0].points == [(NOW, 42.0)]
    assert api.seen[-1]["form"]["time"] == f"{NOW:.3f}"
    assert api.seen[-1]["path"] == "/api/v1/query"


def test_timeout(api):
    with pytest.raises(PrometheusTimeoutError, match=r"did not answer within 0\.3 s") as info:
        PrometheusClient(api.url, timeout=0.3).query("slow")
    assert info.value.retryable


def test_unreachable():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PrometheusUnavailableError, match="unreachable") as info:
        PrometheusClient(f"http://127.0.0.1:{port}", timeout=2).query("up")
    assert info.value.status_code is None and info.value.retryable


def test_warnings_recorded_and_sentinels_dropped(api, caplog):
    client = PrometheusClient(api.url)
    collector = PrometheusCollector(
        client,
        mappings=[
            {
                "metric": "gpu.utilization",
                "expr": "partial",
                "device_label": "UUID",
                "labels": {"gpu": "index"},
                "dcgm_blanks": True,
            }
        ],
    )
    with caplog.at_level("WARNING", logger="compute_hooks.prometheus"):
        samples = collector.collect()
    assert [(s.device_key, s.value, s.labels) for s in samples] == [(UUID, 55.0, {"index": "0"})]
    assert collector.warnings == [
        "remote read of store 'eu-west' failed: context deadline exceeded; results may be partial"
    ]
    assert client.warnings == collector.warnings
    assert collector.dropped == 4 and collector.skipped == 1
    assert "results may be partial" in caplog.text

    result = client.query("partial")
    assert result.partial and len(result) == 6
    assert any(v != v for s in result for _, v in s.points)  # the client itself keeps NaN


def test_auth_headers(api):
    assert PrometheusClient(api.url, bearer_token="s3cret").query("needs_auth").series[0].points[0][1] == 42
    assert PrometheusClient(api.url, basic_auth=("grafana", "pw")).query("needs_auth")
    with pytest.raises(PrometheusAuthError, match=r"refused the credentials \(HTTP 401\): Unauthorized"):
        PrometheusClient(api.url, bearer_token="wrong").query("needs_auth")


def test_range_parameters(api):
    from datetime import datetime, timedelta

    client = PrometheusClient(api.url + "/")
    start = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    client.query_range("scalar", start, start + timedelta(minutes=5), timedelta(seconds=15))
    seen = api.seen[-1]
    assert seen["path"] == "/api/v1/query_range"
    assert seen["form"]["start"] == f"{start.timestamp():.3f}"
    assert seen["form"]["step"] == "15"
    assert seen["form"]["timeout"] == "10s"


def test_blank_sentinel_rules():
    for value in (
        DCGM_INT32_BLANK,
        DCGM_INT32_BLANK + 3,
        2147483647,
        DCGM_INT64_BLANK,
        9223372036854775807,
        DCGM_FP64_BLANK,
        float("nan"),
        float("inf"),
        float("-inf"),
    ):
        assert is_dcgm_blank(float(value)), value
    for value in (0.0, 100.0, 81559.0, 700.5, 2147483631.0):
        assert not is_dcgm_blank(value)
    # Counters that legitimately pass 2**31 (energy in mJ) are kept when asked.
    assert not is_dcgm_blank(987654321012.0, int32_field=False)
    assert is_dcgm_blank(DCGM_FP64_BLANK, int32_field=False)


def test_an_answer_nested_too_deep_is_a_classified_error_not_a_crash(api):
    with pytest.raises(
        PrometheusError, match=r"answered with JSON nested deeper than 64 levels; it was not read"
    ) as info:
        PrometheusClient(api.url).query("too_deep")
    assert info.value.status_code == 200 and not info.value.retryable
    assert not isinstance(info.value, PrometheusUnavailableError)


def test_an_answer_over_the_size_limit_is_refused_unread(api):
    with pytest.raises(PrometheusError, match=r"answered with more than 4096 bytes; it was not read") as info:
        PrometheusClient(api.url, max_answer_bytes=4096).query("large")
    assert not info.value.retryable
    assert PrometheusClient(api.url, max_answer_bytes=8192).query("large").result_type == "scalar"
