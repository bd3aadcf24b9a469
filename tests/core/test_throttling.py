"""API rate limits: per token, per user and per address, answered with 429 and Retry-After; counted in Redis."""

import time
import uuid

import pytest
import redis
from rest_framework.test import APIClient

from apps.tenancy.models import Role
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**scopes):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min", "token": "1000/min"} | scopes,
        }

    return set_rates


@pytest.fixture
def user():
    return member(OrganizationFactory(), Role.FINANCE)


def test_a_token_over_its_rate_gets_429_with_retry_after(rates, user, token_client_for):
    rates(token="5/min")
    busy, quiet = token_client_for(user), token_client_for(user, scope="read-only")
    answers = [busy.get("/api/organizations/").status_code for _ in range(8)]
    assert answers == [200] * 5 + [429] * 3

    response = busy.get("/api/organizations/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["message"].startswith("Request was throttled.") and body["extra"] == {}
    # Another token of the same user has its own allowance.
    assert quiet.get("/api/organizations/").status_code == 200


def test_all_of_a_users_requests_share_one_allowance(rates, user, token_client_for, client_for):
    rates(user="6/min")
    first, second, session = token_client_for(user), token_client_for(user, scope="read-only"), client_for(user)
    answers = [client.get("/api/me/").status_code for client in (first, second, session) * 2]
    assert answers == [200] * 6
    assert session.get("/api/me/").status_code == 429
    assert first.get("/api/me/").status_code == 429
    other = member(OrganizationFactory(), Role.VIEWER)
    assert client_for(other).get("/api/me/").status_code == 200


def test_anonymous_callers_are_limited_per_address(rates):
    rates(anon="3/min")
    client = APIClient()
    answers = [client.get("/api/docs/", REMOTE_ADDR="192.0.2.10").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert client.get("/api/docs/", REMOTE_ADDR="192.0.2.11").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(rates, settings):
    rates(anon="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    for _ in range(2):
        assert client.get("/api/docs/", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    # A spoofed left-most hop changes nothing: the proxy's own entry is the one counted.
    spoofed = client.get("/api/docs/", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1")
    assert spoofed.status_code == 429
    assert client.get("/api/docs/", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200


@pytest.mark.services
def test_counters_live_in_redis_so_every_worker_sees_them(rates, user, token_client_for, settings, redis_url):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    rates(token="50/min")
    client = token_client_for(user)
    for _ in range(3):
        assert client.get("/api/me/").status_code == 200
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    shared = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    keys = shared.keys(f"{prefix}:1:throttle:token:*")
    assert len(keys) == 1 and int(shared.get(keys[0])) == 3


@pytest.mark.services
def test_a_dead_redis_does_not_take_the_api_down(rates, user, token_client_for, settings, private_redis):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
        }
    }
    rates(token="50/min")
    client = token_client_for(user)
    assert client.get("/api/me/").status_code == 200
    private_redis.stop()
    started = time.monotonic()
    assert client.get("/api/me/").status_code == 200
    assert time.monotonic() - started < 5


def _rate_limit(response) -> tuple[int, int, int]:
    return tuple(int(response[name]) for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))


@pytest.mark.services
def test_every_counted_answer_says_how_many_requests_are_left(rates, user, token_client_for, redis_url):
    rates(token="4/min")
    client = token_client_for(user)

    # An error after the count (an id not in the user's organizations) counts and carries them too.
    answers = [client.get(f"/api/milestones/{uuid.uuid4()}/")] + [client.get("/api/me/") for _ in range(4)]

    assert [a.status_code for a in answers] == [404, 200, 200, 200, 429]
    assert [_rate_limit(a)[:2] for a in answers] == [(4, 3), (4, 2), (4, 1), (4, 0), (4, 0)]
    assert all(1 <= _rate_limit(a)[2] <= 60 for a in answers)
    # The 429 says the same wait twice: Retry-After and RateLimit-Reset.
    assert int(answers[-1]["Retry-After"]) == _rate_limit(answers[-1])[2]
    # A request refused before the count (not signed in, an unknown query parameter) carries none.
    assert "RateLimit-Limit" not in APIClient().get("/api/me/")
    assert "RateLimit-Limit" not in client.get("/api/milestones/?colour=red")


@pytest.mark.services
def test_the_scope_closest_to_its_limit_is_the_one_reported(rates, user, token_client_for, redis_url):
    rates(user="3/min", token="10/min")
    first, second = token_client_for(user), token_client_for(user, scope="read-only")

    assert _rate_limit(first.get("/api/me/"))[:2] == (3, 2)
    assert _rate_limit(second.get("/api/me/"))[:2] == (3, 1)  # the user's allowance, shared by both tokens


@pytest.mark.services
def test_the_count_starts_again_when_the_window_ends(rates, user, token_client_for, redis_url):
    rates(token="2/s")
    client = token_client_for(user)
    time.sleep(1 - time.time() % 1)  # start at the beginning of a one-second window

    answers = [client.get("/api/me/") for _ in range(3)]
    assert [(a.status_code, _rate_limit(a)) for a in answers] == [(200, (2, 1, 1)), (200, (2, 0, 1)), (429, (2, 0, 1))]

    time.sleep(int(answers[-1]["RateLimit-Reset"]))
    again = client.get("/api/me/")
    assert again.status_code == 200 and _rate_limit(again)[:2] == (2, 1)
