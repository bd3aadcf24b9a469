"""Fixtures for the compute_hooks tests.

The Prometheus fixture runs the real Debian ``prometheus`` and
``prometheus-node-exporter`` binaries on free loopback ports.  It installs
nothing: the packages must already be there.  When they are missing the
tests that need them are skipped, or fail when GOVTRACK_REQUIRE_SERVICES=1.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

EDGE_AGENT = REPO_ROOT / "compute_hooks" / "edge_agent.py"
RECORDED = Path(__file__).resolve().parent / "recorded"

# Short rate window for the node exporter CPU query; scrapes run every second.
RATE_WINDOW = "5s"
RATE_WINDOW_SECONDS = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalHTTPServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a background thread; restartable on its port."""

    def __init__(self, handler_class, port: int = 0):
        self.handler_class = handler_class
        self.port = port
        self.httpd = None
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler_class)
        httpd.daemon_threads = True
        httpd.owner = self
        self.port = httpd.server_address[1]
        self.httpd = httpd
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.httpd = None

    @property
    def running(self) -> bool:
        return self.httpd is not None


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def send_body(self, status: int, body: bytes, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# ---------------------------------------------------------------------------
# Recorded DCGM exporter endpoint


class DcgmExporterHandler(QuietHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_body(404, b"not found\n", "text/plain")
            return
        body = (RECORDED / "dcgm_exporter_metrics.txt").read_bytes()
        self.send_body(200, body, "text/plain; version=0.0.4; charset=utf-8")


# ---------------------------------------------------------------------------
# Prometheus + node exporter


class PrometheusStack:
    def __init__(self, url, node_target, dcgm_target, dead_target, started):
        self.url = url
        self.node_target = node_target
        self.dcgm_target = dcgm_target
        self.dead_target = dead_target
        self.started = started
        self.rate_window = RATE_WINDOW

    def wait_rate_window(self):
        """Sleep until a full rate window of node exporter scrapes exists (plus a scrape)."""
        remaining = self.started + RATE_WINDOW_SECONDS + 1 - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


def _require_services(reason: str):
    if os.environ.get("GOVTRACK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (GOVTRACK_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_for(predicate, timeout, what, procs=()):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        for name, proc, log_path in procs:
            if proc.poll() is not None:
                tail = Path(log_path).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with status {proc.returncode} while waiting for {what}:\n{tail}")
        try:
            if predicate():
                return
        except requests.RequestException as exc:
            last_error = exc
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


@pytest.fixture(scope="session")
def prometheus_stack(tmp_path_factory):
    prometheus_bin = shutil.which("prometheus")
    node_bin = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not prometheus_bin or not node_bin:
        missing = [n for n, b in (("prometheus", prometheus_bin), ("prometheus-node-exporter", node_bin)) if not b]
        _require_services(
            "needs the Debian packages prometheus and prometheus-node-exporter; missing: " + ", ".join(missing)
        )

    work = tmp_path_factory.mktemp("prometheus")
    dcgm = LocalHTTPServer(DcgmExporterHandler).start()
    node_port = free_port()
    prom_port = free_port()
    dead_port = free_port()  # nothing listens here: a stopped target
    node_target = f"127.0.0.1:{node_port}"
    dcgm_target = f"127.0.0.1:{dcgm.port}"
    dead_target = f"127.0.0.1:{dead_port}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{prom_port}"]}]},
            {"job_name": "node", "static_configs": [{"targets": [node_target]}]},
            {"job_name": "dcgm", "static_configs": [{"targets": [dcgm_target]}]},
            {"job_name": "edge-down", "static_configs": [{"targets": [dead_target]}]},
        ],
    }
    config_path = work / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

    node_log = work / "node_exporter.log"
    prom_log = work / "prometheus.log"
    node_proc = prom_proc = None
    try:
        with open(node_log, "wb") as out:
            node_proc = subprocess.Popen(
                [
                    node_bin,
                    f"--web.listen-address={node_target}",
                    "--collector.disable-defaults",
                    "--collector.cpu",
                    "--collector.meminfo",
                    "--collector.thermal_zone",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        with open(prom_log, "wb") as out:
            prom_proc = subprocess.Popen(
                [
                    prometheus_bin,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=work,
            )
        url = f"http://127.0.0.1:{prom_port}"
        procs = [("prometheus", prom_proc, prom_log), ("node exporter", node_proc, node_log)]
        _wait_for(lambda: requests.get(f"http://{node_target}/metrics", timeout=2).ok, 20, "node exporter", procs)
        _wait_for(lambda: requests.get(f"{url}/-/ready", timeout=2).status_code == 200, 30, "Prometheus ready", procs)

        def scraped():
            result = requests.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2).json()
            jobs = {r["metric"]["job"]: r["value"][1] for r in result["data"]["result"]}
            return jobs.get("node") == "1" and jobs.get("dcgm") == "1" and "edge-down" in jobs

        _wait_for(scraped, 30, "first scrapes of node exporter and the DCGM endpoint", procs)
        started = time.monotonic()  # first scrapes are in
        yield PrometheusStack(url, node_target, dcgm_target, dead_target, started)
    finally:
        _stop(prom_proc)
        _stop(node_proc)
        dcgm.stop()


# ---------------------------------------------------------------------------
# Ingest receiver for the edge agent


class IngestReceiver(LocalHTTPServer):
    """Implements govtrack's ingest wire format and records every request.

    Switches: ``force_status`` (answer every request with that status),
    ``max_samples`` (413 above it), ``tokens`` (accepted device tokens),
    ``sample_errors`` (indices reported as per-sample errors in a 200).
    """

    def __init__(self):
        super().__init__(IngestHandler)
        self.requests = []  # every request: dict(path, headers, body, status)
        self.force_status = None
        self.max_samples = None
        self.tokens = {"device-token-1"}
        self.sample_errors = set()
        self.lock = threading.Lock()

    @property
    def accepted(self):
        """Bodies of the requests answered 200/201, in arrival order."""
        return [r["body"] for r in self.requests if r["status"] in (200, 201)]

    def accepted_samples(self):
        return [s for body in self.accepted for s in body["samples"]]


class IngestHandler(QuietHandler):
    def do_POST(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        record = {"path": self.path, "headers": dict(self.headers), "body": None, "status": None}
        status, answer = self._answer(owner, raw, record)
        record["status"] = status
        with owner.lock:
            owner.requests.append(record)
        self.send_body(status, json.dumps(answer).encode())

    def _answer(self, owner, raw, record):
        if self.path != "/api/compute/ingest/":
            return 404, {"detail": "not found"}
        if owner.force_status is not None:
            return owner.force_status, {"detail": f"forced {owner.force_status}"}
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Device ") or auth[len("Device ") :] not in owner.tokens:
            return 401, {"detail": "invalid device token"}
        if self.headers.get("Content-Type") != "application/json":
            return 400, {"detail": "expected application/json"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"detail": "malformed JSON"}
        record["body"] = body
        if not isinstance(body, dict) or not isinstance(body.get("samples"), list) or not body.get("device"):
            return 400, {"detail": "malformed batch"}
        samples = body["samples"]
        if owner.max_samples is not None and len(samples) > owner.max_samples:
            return 413, {"detail": f"at most {owner.max_samples} samples per batch"}
        errors = [
            {"index": i, "field": "value", "message": "value out of range"}
            for i in sorted(owner.sample_errors)
            if i < len(samples)
        ]
        return 200, {"accepted": len(samples) - len(errors), "duplicates": 0, "errors": errors}


@pytest.fixture
def receiver():
    server = IngestReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def fake_root(tmp_path):
    """A fake /proc and /sys tree of a RISC-V board; returns a small helper object."""
    return FakeBoard(tmp_path / "board")


class FakeBoard:
    STAT = (
        "cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\n"
        "cpu0 {user} 0 {system} {idle} {iowait} 0 0 0 0 0\n"
        "intr 0\nctxt 100\nbtime 1764180000\nprocesses 10\n"
    )

    def __init__(self, root: Path):
        self.proc = root / "proc"
        self.sys = root / "sys"
        self.proc.mkdir(parents=True)
        self.set_stat(user=1000, system=500, idle=8000, iowait=500)
        self.set_meminfo(available_kb=524288, total_kb=2097152)
        (self.proc / "cpuinfo").write_text(
            "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc\nmmu\t\t: sv39\nuarch\t\t: sifive,u74-mc\n\n"
            "processor\t: 1\nhart\t\t: 1\nisa\t\t: rv64imafdc\nmmu\t\t: sv39\n"
        )
        self.add_zone(0, "cpu-thermal", 48250)
        self.add_zone(1, "gpu-thermal", 45000)

    def set_stat(self, user, system, idle, iowait):
        (self.proc / "stat").write_text(self.STAT.format(user=user, system=system, idle=idle, iowait=iowait))

    def set_meminfo(self, available_kb, total_kb):
        (self.proc / "meminfo").write_text(
            f"MemTotal:       {total_kb} kB\nMemFree:          100000 kB\n"
            f"MemAvailable:   {available_kb} kB\nBuffers:           2048 kB\nCached:          65536 kB\n"
        )

    def add_zone(self, index, kind, millidegrees):
        zone = self.sys / "class" / "thermal" / f"thermal_zone{index}"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{millidegrees}\n")


@pytest.fixture
def run_agent(tmp_path, receiver):
    """Run compute_hooks/edge_agent.py --once as a real subprocess."""
    spool = tmp_path / "spool"

    def run(*extra, python=None, token="device-token-1", url=None, board=None, env=None, once=True, timeout=60):  # noqa: S107
        args = [python or sys.executable, str(EDGE_AGENT)]
        args += ["--url", url or receiver.url, "--device-key", "board-7", "--spool-dir", str(spool)]
        args += ["--no-nice", "--timeout", "2", "--cpu-sample-seconds", "0.05"]
        if token is not None:
            args += ["--token", token]
        if board is not None:
            args += ["--proc-root", str(board.proc), "--sys-root", str(board.sys)]
        if once:
            args.append("--once")
        args += list(extra)
        full_env = {k: v for k, v in os.environ.items() if k != "GOVTRACK_DEVICE_TOKEN"}
        full_env.update(env or {})
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env)

    run.spool = spool
    return run
