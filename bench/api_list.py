"""GET /api/v1/grants/?page_size=50 (with nested milestones) vs. hand-written SQL → JsonResponse, under gunicorn.

1,000 grants and 10,000 milestones in PostgreSQL. Prints req/s and p50/p99 for both and the ratio
(goal: the API reaches at least three quarters of the hand-written view's throughput).
"""

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, django_setup, percentile

GRANTS, MILESTONES_PER_GRANT = 1000, 10
REQUESTS, CONCURRENCY, ROUNDS = 200, 4, 2


def seed() -> str:
    from apps.funding.models import Funder, Grant, Milestone
    from apps.tenancy.models import Membership, Organization, User
    from apps.tenancy.services import api_token_create

    org = Organization.objects.create(name="Bench Org", slug="bench-org")
    user = User.objects.create(username="bench-finance")
    Membership.objects.create(organization=org, user=user, role="finance")
    funder = Funder.objects.create(organization=org, name="Agency", kind="government_agency")
    grants = Grant.objects.bulk_create(
        [
            Grant(
                organization=org,
                funder=funder,
                title=f"Grant {n:04d}",
                currency="EUR",
                amount_requested=Decimal("1000000"),
                amount_awarded=Decimal("900000"),
                period_start=dt.date(2026, 1, 1),
                period_end=dt.date(2027, 12, 31),
                status="active",
                owner=user,
                focus_areas=["privacy_compliant_ai"],
            )
            for n in range(GRANTS)
        ]
    )
    Milestone.objects.bulk_create(
        [
            Milestone(
                organization=org,
                grant=grant,
                title=f"{grant.title} M{m}",
                amount=Decimal("50000"),
                currency="EUR",
                due_date=dt.date(2026, 1 + m, 10),
                status="planned",
            )
            for grant in grants
            for m in range(MILESTONES_PER_GRANT)
        ],
        batch_size=2000,
    )
    _token, raw = api_token_create(user=user, name="bench")
    return raw


def queries_per_request(raw_token: str) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    counts = {}
    for name, url in (("api", "/api/v1/grants/?page_size=50"), ("raw", "/bench/raw-grants/?page_size=50")):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        counts[name] = (len(ctx), response.json())
    api_ids = [g["id"] for g in counts["api"][1]["results"]]
    raw_ids = [g["id"] for g in counts["raw"][1]["results"]]
    assert api_ids == raw_ids, "the two endpoints must return the same grants"
    assert counts["api"][1]["results"][0] == counts["raw"][1]["results"][0], "and the same payload"
    return {name: count for name, (count, _) in counts.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(url: str, token: str) -> tuple[float, list[float]]:
    def worker(count: int) -> list[float]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            response = session.get(url, timeout=30)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        parts = list(pool.map(worker, [REQUESTS // CONCURRENCY] * CONCURRENCY))
    elapsed = time.perf_counter() - started
    latencies = [value for part in parts for value in part]
    return len(latencies) / elapsed, latencies


def main() -> None:
    with bench_database("api_list") as url:
        django_setup(url, "bench.api_list_settings")
        token = seed()
        queries = queries_per_request(token)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.api_list_settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            # The rate limits stay on (their cost is part of the figure) but out of reach of the load.
            "API_THROTTLE_USER": "1000000/min",
            "API_THROTTLE_TOKEN": "1000000/min",
        }
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "govtrack.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    requests.get(f"{base}/healthz", timeout=5).raise_for_status()
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            endpoints = {"api": f"{base}/api/v1/grants/?page_size=50", "raw": f"{base}/bench/raw-grants/?page_size=50"}
            for target in endpoints.values():
                measure(target, token)  # warm-up: connections, caches, imports
            results = {name: [] for name in endpoints}
            throughput = {name: [] for name in endpoints}
            for _ in range(ROUNDS):
                for name, target in endpoints.items():
                    rps, latencies = measure(target, token)
                    throughput[name].append(rps)
                    results[name].extend(latencies)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    print(
        f"{GRANTS} grants, {GRANTS * MILESTONES_PER_GRANT} milestones; gunicorn -w 2; "
        f"{REQUESTS * ROUNDS} requests per endpoint at concurrency {CONCURRENCY}"
    )
    print(f"{'endpoint':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8}")
    for name, label in (("api", "GET /api/v1/grants/?page_size=50"), ("raw", "hand-written SQL → JsonResponse")):
        rps = sum(throughput[name]) / len(throughput[name])
        print(
            f"{label:<34} {rps:>8.1f} {percentile(results[name], 50) * 1000:>8.1f} "
            f"{percentile(results[name], 99) * 1000:>8.1f} {queries[name]:>8}"
        )
    ratio = sum(throughput["api"]) / sum(throughput["raw"])
    print(f"ratio API / hand-written: {ratio:.2f} (goal ≥ 0.75) -> {'MET' if ratio >= 0.75 else 'NOT MET'}")


if __name__ == "__main__":
    main()
