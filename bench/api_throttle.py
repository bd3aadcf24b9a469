"""What the API rate limits cost: GET /api/me/ with an API token, throttles on (Redis counters) vs. off.

In-process (Django's test client), PostgreSQL, the cache REDIS_URL names. A token request is counted in two
scopes (its user and its token). Prints p50/p99 for both and the ratio (goal: under 1 ms added at p50).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import bench_database, django_setup, percentile

REQUESTS, ROUNDS = 500, 3


def measure(client, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get("/api/me/")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return latencies


def main() -> None:
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL: the figure is for counters in Redis, as in production.")
    with bench_database("api_throttle") as url:
        django_setup(url)
        from django.conf import settings
        from django.test import override_settings
        from rest_framework.test import APIClient

        from apps.tenancy.models import Membership, Organization, User
        from apps.tenancy.services import api_token_create

        organization = Organization.objects.create(name="Bench Org", slug="bench-org")
        user = User.objects.create(username="bench-tool")
        Membership.objects.create(organization=organization, user=user, role="finance")
        _token, raw = api_token_create(user=user, name="bench")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        high = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000000/min")
        on = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": high}
        off = {**on, "DEFAULT_THROTTLE_CLASSES": []}
        settings.ALLOWED_HOSTS = ["*"]
        measure(client, 50)  # warm up connections and caches
        results = {"throttles off": [], "throttles on": []}
        for _ in range(ROUNDS):
            for name, rest in (("throttles off", off), ("throttles on", on)):
                with override_settings(REST_FRAMEWORK=rest):
                    results[name] += measure(client, REQUESTS)
        p50 = {name: percentile(values, 50) for name, values in results.items()}
        for name, values in results.items():
            print(f"{name:>14}: p50 {p50[name]:.3f} ms, p99 {percentile(values, 99):.3f} ms ({len(values)} requests)")
        added = p50["throttles on"] - p50["throttles off"]
        print(f"added at p50: {added:.3f} ms; ratio on/off {p50['throttles on'] / p50['throttles off']:.2f}")


if __name__ == "__main__":
    main()
