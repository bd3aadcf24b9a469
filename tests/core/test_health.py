import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_database_and_broker(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]


def test_readyz_names_a_stopped_redis(client, private_redis):
    with override_settings(REDIS_URL=private_redis.url, READYZ_TIMEOUT_SECONDS=1):
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["broker"] == {"ok": True, "detail": "redis", "ms": pytest.approx(0, abs=1000)}

        private_redis.stop()

        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable" and body["failed"] == ["broker"]
        assert body["checks"]["database"]["ok"] is True
        assert "ConnectionError" in body["checks"]["broker"]["error"]
