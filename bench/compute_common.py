"""Shared by the compute benchmarks: a PostgreSQL database of the benchmark's own, migrated, dropped at the end.

DATABASE_URL names the server (e.g. postgres://postgres@127.0.0.1:5432/test); the benchmark creates
govtrack_bench_<name>_<pid> beside that database and removes it when done.
"""

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextlib.contextmanager
def bench_database(name: str):
    """Creates and migrates a fresh database, sets Django up on it; yields its psycopg URL."""
    import psycopg

    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL=postgres://user@host:port/db (a PostgreSQL server to create the benchmark DB on).")
    database = f"govtrack_bench_{name}_{os.getpid()}"
    admin_url = server_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = _with_database(server_url, database)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # tasks run in-process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govtrack.settings")
    sys.path.insert(0, str(REPO_ROOT))
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        settings.DEBUG = False  # no query log in the timings
        print(f"benchmark database {database} migrated in {time.perf_counter() - started:.1f} s")
        yield _with_database(admin_url, database)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        print(f"benchmark database {database} dropped")


def median_seconds(function, repeat: int) -> tuple[float, object]:
    """Runs `function` `repeat` times; returns the median wall time and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def organization_with_engineer():
    from apps.tenancy.models import Role
    from apps.tenancy.services import membership_add, organization_create, user_create

    owner = user_create(username="bench-owner", password=None)
    organization = organization_create(name="Bench Compute", created_by=owner)
    engineer = user_create(username="bench-engineer", password=None)
    membership_add(organization=organization, user=engineer, role=Role.ENGINEER, by=owner)
    return organization, owner, engineer
