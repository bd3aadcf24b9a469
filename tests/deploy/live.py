"""Processes of the production shape for the deploy tests: gunicorn with deploy/gunicorn.conf.py, Prometheus."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.compute_hooks.conftest import _require_services, _stop, _wait_for, free_port
from tests.workers import ROOT, database_url

GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def production_env(connection, **extra) -> dict:
    """DEBUG off, the test database, plain HTTP on loopback; callers add what their test needs."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "deploy-test-secret-key-long-enough-for-check-deploy-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url(connection),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "GUNICORN_GRACEFUL_TIMEOUT": "5",  # a test's stop need not wait out kept-alive connections
        **extra,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each gunicorn master makes its own
    return env


class Gunicorn:
    """`gunicorn -c deploy/gunicorn.conf.py` on a free loopback port."""

    def __init__(self, *, env: dict, log: Path, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers)}
        self.process = None

    def start(self) -> "Gunicorn":
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "govtrack.wsgi:application"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        procs = [("gunicorn", self.process, self.log)]
        _wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=5).ok, 60, "gunicorn answering", procs)
        return self

    def stop(self) -> None:
        _stop(self.process)


class Prometheus:
    """The Debian prometheus on a free loopback port, scraping the given scrape configs every second."""

    def __init__(self, work: Path, scrape_configs: list[dict]):
        self.binary = shutil.which("prometheus")
        if not self.binary:
            _require_services("needs the Debian package prometheus")
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }
        (work / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        self.log = work / "prometheus.log"
        self.process = None

    def start(self) -> "Prometheus":
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    self.binary, f"--config.file={self.work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.work / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                cwd=self.work, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        procs = [("prometheus", self.process, self.log)]
        _wait_for(lambda: requests.get(f"{self.url}/-/ready", timeout=2).ok, 30, "Prometheus ready", procs)
        return self

    def query(self, promql: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value_when(self, promql: str, predicate, timeout: float = 30) -> float:
        """The query's single value once `predicate(value)` holds (scrapes are every second)."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            result = self.query(promql)
            if len(result) == 1:
                last = float(result[0]["value"][1])
                if predicate(last):
                    return last
            time.sleep(0.5)
        raise AssertionError(f"{promql}: last value {last}, condition never held in {timeout} s")

    def stop(self) -> None:
        _stop(self.process)
