"""API rate limits: per IP for anonymous callers, per user, and per API token.

Each limit is a fixed-window counter in the default cache (Redis in production, so every gunicorn worker counts
into the same window): one atomic increment per request and scope, whatever the rate (DRF's own throttles keep
a list of timestamps, read and written back unlocked, so workers lose each other's counts). A request over a limit gets
429 with `Retry-After` (the seconds until its window ends) and the usual error body. Rates come from
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("<n>/<s|min|hour|day>"); a scope without a rate is not limited.

Every answer to a counted request says where the caller stands, in the IETF draft's three fields
(draft-ietf-httpapi-ratelimit-headers): `RateLimit-Limit` (requests per window), `RateLimit-Remaining` (left in this
window) and `RateLimit-Reset` (seconds until the window ends), for the scope closest to its limit
(`RateLimitHeadersMiddleware`). A request that several scopes count (a token's, and its user's) reports the one with
the fewest requests left, so a tool that paces itself by the headers is never refused by another scope.

A cache that cannot be reached lets the request through (and logs it): a dead Redis must not take the API down.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'60/min' -> (60, 60): requests allowed, window length in seconds."""
    count, _, period = rate.partition("/")
    return int(count), PERIOD_SECONDS[period.strip()[0]]


def client_ip(request) -> str:
    """The caller's address: the peer's, or the one the trusted proxies (TRUSTED_PROXY_COUNT) put in front of them.

    Used by the API throttles and by the sign-in lockout, so both see the same client behind a load balancer.
    """
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # Each trusted proxy appends the address it saw; anything further left was written by the client.
    return hops[-min(proxies, len(hops))] if hops else remote


@dataclass(frozen=True)
class RateLimitState:
    """Where one request left its caller in one scope's window."""

    limit: int
    remaining: int
    reset: int  # whole seconds until the window ends, at least 1

    def tighter_than(self, other: "RateLimitState | None") -> bool:
        return other is None or (self.remaining, -self.reset) < (other.remaining, -other.reset)


def _record(request, state: RateLimitState) -> None:
    """Keeps the tightest scope's state on the Django request, for RateLimitHeadersMiddleware."""
    request = getattr(request, "_request", request)
    if state.tighter_than(getattr(request, "rate_limit", None)):
        request.rate_limit = state


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def identity(self, request) -> str | None:
        """Whom this request is counted for in this scope; None: not counted here."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        self.retry_after = None
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.identity(request) if rate else None
        if ident is None:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{ident}:{period}:{window}"
        try:
            try:
                count = cache.incr(key)
            except ValueError:  # the window's first request (or a race with another worker's first)
                count = 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)
        except Exception:  # the cache is down: count nothing rather than refuse everyone
            logger.warning("Rate limit cache unavailable; %s request not counted", self.scope, exc_info=True)
            return True
        reset = max(1, math.ceil((window + 1) * period - now))
        _record(request, RateLimitState(limit=limit, remaining=max(0, limit - count), reset=reset))
        if count <= limit:
            return True
        self.retry_after = reset
        return False

    def wait(self) -> float | None:
        return self.retry_after


class AnonymousIpThrottle(FixedWindowThrottle):
    """Callers that are not signed in (the schema, docs and any other open endpoint), counted per address."""

    scope = "anon"

    def identity(self, request) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        if request.auth is not None:  # a device pushing samples is not anonymous
            return None
        return client_ip(request) or "unknown"


class UserThrottle(FixedWindowThrottle):
    """All of one user's requests, through the session or any of their tokens together."""

    scope = "user"

    def identity(self, request) -> str | None:
        if request.user is None or not request.user.is_authenticated:
            return None
        return str(request.user.pk)


class ApiTokenThrottle(FixedWindowThrottle):
    """One API token's requests: one busy tool cannot use up its user's whole allowance."""

    scope = "token"

    def identity(self, request) -> str | None:
        from apps.tenancy.models import ApiToken  # tenancy builds on core

        return str(request.auth.pk) if isinstance(request.auth, ApiToken) else None


class RateLimitHeadersMiddleware:
    """`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every answer to a request a throttle counted
    (errors and 429 included; a request refused before the count, such as a 401, or a replayed idempotent answer,
    was not counted and carries none)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, "rate_limit", None)
        if state is not None:
            response["RateLimit-Limit"] = str(state.limit)
            response["RateLimit-Remaining"] = str(state.remaining)
            response["RateLimit-Reset"] = str(state.reset)
        return response
