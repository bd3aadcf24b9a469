import copy
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from rest_framework.test import APIClient

from govtrack.celery import app as celery_app

REQUIRE_SERVICES = os.environ.get("GOVTRACK_REQUIRE_SERVICES") == "1"


def service_missing(reason: str):
    """A missing service fails the run when GOVTRACK_REQUIRE_SERVICES=1 (CI), else skips the test."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of this run's own (test_<name>_<pid>), so runs side by side on one server never collide.

    GOVTRACK_TEST_DB_SUFFIX names it instead: `make mutation` runs pytest once per mutant in forked processes that
    share one database kept with --reuse-db, rather than migrating a new one for each mutant.
    """
    from django.conf import settings
    from pytest_django.fixtures import _set_suffix_to_test_databases

    suffix = os.environ.get("GOVTRACK_TEST_DB_SUFFIX") or str(os.getpid())
    names = [str((db.get("TEST") or {}).get("NAME") or "") for db in settings.DATABASES.values()]
    if any(name.endswith(f"_{suffix}") for name in names):
        return  # a later pytest session in this process (mutmut runs several) keeps the name; never test_x_s_s_s
    _set_suffix_to_test_databases(suffix=suffix)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects stored passwords; tests only need a hash that checks.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_cache_and_relaxed_throttles(settings):
    """Each test counts its API requests in a cache namespace of its own, under rates no ordinary test reaches.

    Runs side by side share one Redis and reuse user ids, so counters must not leak between tests; the throttle
    tests lower the rates they check.
    """
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches
    rates = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks run in-process unless a test starts a real worker (see tests/core/test_celery_worker.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        service_missing("PostgreSQL (set DATABASE_URL=postgres://...)")
    return connection


@pytest.fixture
def redis_url():
    import redis

    url = os.environ.get("REDIS_URL")
    if not url:
        service_missing("Redis (set REDIS_URL=redis://...)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} unreachable: {exc}")
    return url


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, which the test may stop and start again (same port,
    empty: it keeps nothing on disk)."""

    def __init__(self, binary: str):
        self.binary, self.port, self.process = binary, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis():
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server binary")
    server = PrivateRedis(binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def token_client_for():
    """A client that authenticates as a finance tool does: with a real API token in the Authorization header."""
    from apps.tenancy.models import TokenScope
    from apps.tenancy.services import api_token_create

    def make(user, scope: str = TokenScope.READ_WRITE) -> APIClient:
        _token, raw = api_token_create(user=user, name=f"tool-{user.pk}-{scope}", scope=scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def org(db):
    from tests.factories import OrganizationFactory

    return OrganizationFactory(name="Acme Compute")


@pytest.fixture
def people(org):
    """One user per role in `org`, named <role>-acme."""
    from apps.tenancy.models import Role
    from tests.factories import member

    return {role: member(org, role, username=f"{role}-acme") for role in Role.values}


@pytest.fixture
def outsider(db):
    """The owner of another organization."""
    from apps.tenancy.models import Role
    from tests.factories import OrganizationFactory, member

    return member(OrganizationFactory(name="Other Org"), Role.OWNER, username="outsider")


@pytest.fixture
def owner(org):
    from apps.tenancy.models import Role
    from tests.factories import member

    return member(org, Role.OWNER, username="olivia")


@pytest.fixture
def officer(org):
    """The compliance officer of `org`."""
    from apps.tenancy.models import Role
    from tests.factories import member

    return member(org, Role.COMPLIANCE, username="cora")


@pytest.fixture
def engineer(org):
    from apps.tenancy.models import Role
    from tests.factories import member

    return member(org, Role.ENGINEER, username="eddie")


@pytest.fixture
def viewer(org):
    from apps.tenancy.models import Role
    from tests.factories import member

    return member(org, Role.VIEWER, username="vera")
