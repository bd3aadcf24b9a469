"""The scale-out drill (docs/operations.md, "Scale"): two gunicorn instances, two Celery workers and one beat on one
PostgreSQL through a real PgBouncer in transaction mode, and a private Redis; a mixed API load while one worker is
killed (SIGKILL) and started again and Redis is restarted (empty). Nothing may be lost, nothing done twice, and no
request may answer 5xx. Bounded to about two minutes."""

import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.db import connection

from apps.compute.models import ComputeSource, DeviceKind, LateSample, Sample
from apps.compute.services.devices import device_create
from apps.funding.models import Grant
from apps.tenancy.models import TokenScope
from apps.tenancy.services import api_token_create
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from apps.webhooks.services import webhook_endpoint_create
from tests.compute_hooks.conftest import _stop, _wait_for, free_port
from tests.deploy.live import Gunicorn, production_env
from tests.funding.factories import GrantFactory
from tests.receivers import Receiver
from tests.workers import ROOT, CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.services]

GRANTS = 90
LOAD_CLIENTS = 4


class PgBouncer:
    """Debian's pgbouncer in transaction mode on a free loopback port, in front of the local PostgreSQL. It refuses
    to run as root, so it runs as nobody with its files in a directory nobody can read."""

    def __init__(self):
        self.binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(self.binary).exists():
            pytest.fail("needs the Debian package pgbouncer (deploy/apt-packages-test.txt)")
        settings = connection.settings_dict
        self.port = free_port()
        self.work = Path(tempfile.mkdtemp(prefix="govtrack-pgbouncer-"))
        self.work.chmod(0o755)
        (self.work / "userlist.txt").write_text(f'"{settings["USER"]}" ""\n')
        (self.work / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.work / 'userlist.txt'}\n"
            "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 8\n"
            "server_reset_query =\nignore_startup_parameters = extra_float_digits,options\n"
        )
        for path in self.work.iterdir():
            path.chmod(0o644)
        self.process = None

    def url(self) -> str:
        s = connection.settings_dict
        return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@127.0.0.1:{self.port}/{s['NAME']}"

    def start(self):
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.getuid() == 0 else []
        with (self.work / "pgbouncer.log").open("wb") as log:  # opened here: nobody may not write in work
            self.process = subprocess.Popen(
                [*as_nobody, self.binary, str(self.work / "pgbouncer.ini")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        procs = [("pgbouncer", self.process, self.work / "pgbouncer.log")]

        def answers():
            import psycopg

            with psycopg.connect(self.url().replace("postgres://", "postgresql://"), connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        _wait_for(lambda: _quiet(answers), 20, "PgBouncer answering", procs)
        return self

    def stop(self):
        _stop(self.process)
        shutil.rmtree(self.work, ignore_errors=True)


def _quiet(check):
    try:
        return check()
    except Exception:
        return False


class Beat:
    def __init__(self, env: dict, work: Path):
        self.env, self.work, self.process = env, work, None

    def start(self):
        with (self.work / "beat.log").open("w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "govtrack", "beat", "-l", "warning",
                    "--schedule", str(self.work / "celerybeat-schedule"),
                ],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self):
        _stop(self.process)


class Load:
    """Clients that spread a mixed API load over both gunicorn instances and record every answer."""

    def __init__(self, urls, token, device_token, device_key, grant_ids):
        self.urls, self.token, self.device_token, self.device_key = urls, token, device_token, device_key
        self.grants = list(grant_ids)
        self.lock = threading.Lock()
        self.answers: list[tuple[str, int, float]] = []
        self.submitted: dict[str, int] = {}
        self.stop = threading.Event()
        self.sample_ts = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)  # a day back: never ahead of the clock
        self.samples_accepted = 0

    def _next_grant(self):
        with self.lock:
            return self.grants.pop() if self.grants else None

    def _next_samples(self):
        with self.lock:
            start = self.sample_ts
            self.sample_ts += dt.timedelta(seconds=50)
        return [
            {"metric": "gpu.utilization", "ts": (start + dt.timedelta(seconds=i)).isoformat(), "value": 80.0}
            for i in range(50)
        ]

    def _record(self, kind, response_status, started):
        with self.lock:
            self.answers.append((kind, response_status, time.monotonic() - started))

    def client(self, index: int):
        session = requests.Session()
        auth = {"Authorization": f"Bearer {self.token}"}
        step = 0
        while not self.stop.is_set():
            base = self.urls[(index + step) % len(self.urls)]
            step += 1
            kind = ("submit", "list", "ingest", "me")[step % 4]
            started = time.monotonic()
            try:
                if kind == "submit":
                    grant = self._next_grant()
                    if grant is None:
                        kind = "list"
                    else:
                        answer = session.post(f"{base}/api/grants/{grant}/submit/", headers=auth, timeout=30)
                        with self.lock:
                            self.submitted[grant] = answer.status_code
                if kind == "list":
                    answer = session.get(f"{base}/api/grants/?page_size=20", headers=auth, timeout=30)
                elif kind == "ingest":
                    body = {"device": self.device_key, "samples": self._next_samples()}
                    headers = {"Authorization": f"Device {self.device_token}"}
                    answer = session.post(f"{base}/api/compute/ingest/", json=body, headers=headers, timeout=30)
                    if answer.status_code == 200:
                        with self.lock:
                            self.samples_accepted += answer.json()["accepted"]
                elif kind == "me":
                    answer = session.get(f"{base}/api/me/", headers=auth, timeout=30)
                self._record(kind, answer.status_code, started)
            except requests.RequestException as exc:  # a refused connection is a failure the drill reports
                self._record(kind, f"error: {exc.__class__.__name__}", started)


@pytest.fixture
def org_setup(transactional_db):
    from tests.factories import OrganizationFactory, member

    if connection.vendor != "postgresql":
        pytest.skip("the drill runs on PostgreSQL")
    org = OrganizationFactory(name="Drill")
    finance = member(org, "finance", username="finance-drill")
    engineer = member(org, "engineer", username="engineer-drill")
    return org, finance, engineer


def test_two_webs_two_workers_one_beat_survive_a_killed_worker_and_a_redis_restart(
    org_setup, private_redis, tmp_path, settings
):
    org, finance, engineer = org_setup
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    pgbouncer = PgBouncer().start()
    processes = []
    with Receiver() as receiver:
        try:
            webhook_endpoint_create(organization=org, by=finance, url=receiver.url, events=[])
            grant_ids = [str(GrantFactory(organization=org, status="draft").pk) for _ in range(GRANTS)]
            _token, raw_token = api_token_create(user=finance, name="drill", scope=TokenScope.READ_WRITE)
            # The agent replays a day back (never ahead of the clock): its source allows that lateness, so the
            # samples are on time and go to Sample and the rollups, the path under test.
            spool = ComputeSource.objects.create(
                organization=org, name="drill spool", kind="push", lateness_seconds=3 * 86400
            )
            device, device_token = device_create(
                organization=org, by=engineer, key="drill-gpu", kind=DeviceKind.GPU, source=spool
            )

            through_pgbouncer = {
                "DATABASE_URL": pgbouncer.url(),
                "DB_PGBOUNCER_TRANSACTION_MODE": "1",
                "DB_CONN_MAX_AGE": "0",
                "REDIS_URL": private_redis.url,
                "WEBHOOKS_ALLOW_HTTP": "1",
                "EGRESS_ALLOW_NETWORKS": "127.0.0.1/32",
                "API_THROTTLE_TOKEN": "100000/min",
                "API_THROTTLE_USER": "100000/min",
            }
            env = production_env(connection, **through_pgbouncer)
            webs = [
                Gunicorn(env={**env, "GUNICORN_THREADS": "4"}, log=tmp_path / f"web{i}.log", workers=1)
                for i in range(2)
            ]
            workers = [
                CeleryWorker(connection=connection, redis_url=private_redis.url, log=tmp_path / f"worker{i}.log",
                             env=through_pgbouncer)
                for i in range(2)
            ]  # fmt: skip
            beat = Beat(env, tmp_path)
            processes = [*webs, *workers, beat]
            for process in processes:
                process.start()

            load = Load([w.url for w in webs], raw_token, device_token, device.key, grant_ids)
            started = time.monotonic()
            with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
                for i in range(LOAD_CLIENTS):
                    pool.submit(load.client, i)
                time.sleep(12)
                workers[0].process.send_signal(signal.SIGKILL)  # mid-task, maybe: acks late keeps its task queued
                workers[0].process.wait()
                time.sleep(8)
                workers[0].start()
                time.sleep(6)
                private_redis.stop()  # everything queued in it is gone; the rows are not
                time.sleep(4)
                private_redis.start()
                time.sleep(10)
                load.stop.set()
            load_seconds = time.monotonic() - started

            def drained():
                return not WebhookDelivery.objects.filter(organization=org, status=DeliveryStatus.PENDING).exists()

            drain_started = time.monotonic()
            deadline = drain_started + 75  # beat's webhook sweep runs every 15 s
            while not drained() and time.monotonic() < deadline:
                time.sleep(1)
            drain_seconds = time.monotonic() - drain_started
        finally:
            for process in reversed(processes):
                process.stop()
            pgbouncer.stop()

        statuses = Counter(status for _kind, status, _s in load.answers)
        latencies = sorted(s for _kind, _status, s in load.answers)
        by_kind = Counter(kind for kind, _status, _s in load.answers)
        print(
            f"\ndrill: {len(load.answers)} requests in {load_seconds:.0f} s ({len(load.answers) / load_seconds:.1f}/s) "
            f"{dict(by_kind)}; statuses {dict(statuses)}; p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
            f"grants submitted {len(load.submitted)}; webhooks drained {drain_seconds:.0f} s after the load"
        )
        assert not [s for s in statuses if not isinstance(s, int) or s >= 500], statuses  # no 5xx, no refused
        assert set(load.submitted.values()) == {200}
        submitted = set(load.submitted)
        assert set(Grant.objects.filter(pk__in=submitted).values_list("status", flat=True)) == {"submitted"}

        # Nothing lost: one delivery per submitted grant, every one delivered; nothing twice: each reached the
        # receiver once.
        deliveries = WebhookDelivery.objects.filter(organization=org)
        assert deliveries.count() == len(submitted)
        waiting = list(
            deliveries.exclude(status=DeliveryStatus.DELIVERED).values_list("attempts", "last_error", "next_attempt_at")
        )
        assert not waiting, waiting
        received = Counter(r["headers"]["X-Govtrack-Delivery"] for r in receiver.requests)
        assert set(received) == {str(pk) for pk in deliveries.values_list("pk", flat=True)}
        assert max(received.values()) == 1, [d for d, n in received.items() if n > 1]
        # Every sample sent was accepted and stored once.
        assert load.samples_accepted == by_kind["ingest"] * 50
        assert Sample.objects.filter(device=device).count() == load.samples_accepted
        assert not LateSample.objects.filter(device=device).exists()
