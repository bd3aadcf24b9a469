"""/healthz: the process answers. /readyz: what the process depends on answers too."""

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Apps that add a dependency (the chain node, ...) register a check here: name -> callable raising on failure.
READINESS_CHECKS: dict = {}


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _check_broker() -> str:
    if not settings.REDIS_URL:
        return "embedded (tasks run in-process)"
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.READYZ_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.READYZ_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()
    return "redis"


def readiness_checks() -> dict:
    return {"database": _check_database, "broker": _check_broker, **READINESS_CHECKS}


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    results, failed = {}, []
    for name, check in readiness_checks().items():
        started = time.monotonic()
        try:
            detail = check()
            results[name] = {"ok": True, "detail": detail}
        except Exception as exc:  # any failure of a dependency is reported, never raised
            failed.append(name)
            results[name] = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": results}
    return JsonResponse(body, status=200 if not failed else 503)
