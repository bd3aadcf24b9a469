"""/metrics: what an operator watches, in the Prometheus text format (docs/operations.md, "Observe").

Two kinds of figures. Per-process ones (request latency by route, samples ingested) are prometheus-client metrics;
under gunicorn they live in PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py sets it) so any worker's scrape
reports all of them. The others (outbox backlog and age, chain lag and transactions, verification runs, webhook
failures, Celery queue depth, audit-chain status) are read at scrape time from the database, the broker and the
chain node, so every process answers the same and nothing has to be kept in step.

The endpoint answers only a bearer token equal to METRICS_TOKEN; with no token set it is open on the embedded
default (DEBUG on) and answers 404 in production.
"""

import hmac
import logging
import os
import re
import time

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Seconds: from a cached page (5 ms) to a slow report build answered in the request (10 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = Histogram(
    "govtrack_http_request_duration_seconds",
    "Time from the first middleware to the response, by URL route (the pattern, not the path), method and status "
    "class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
INGEST_SAMPLES = Counter(
    "govtrack_ingest_samples",
    "Samples pushed to the ingest API, by outcome: accepted (stored), duplicate (already stored), rejected (refused "
    "by the per-sample checks; named in the answer's errors).",
    ["outcome"],
)


# A regular-expression route (the unversioned API's `^api/(?!v1/)`, govtrack/urls.py) labelled as the plain path
# pattern it stands for: `api/me/`, as the other routes are.
REGEX_SYNTAX = re.compile(r"\^|\$|\(\?!.*?\)")


class RequestMetricsMiddleware:
    """Times each request; the route label is the URL pattern that answered, so ids never become labels."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = REGEX_SYNTAX.sub("", match.route or match.view_name) if match else "<unmatched>"
        REQUEST_DURATION.labels(route=route, method=request.method, status=f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response


def ingest_counted(*, accepted: int, duplicates: int, rejected: int) -> None:
    INGEST_SAMPLES.labels(outcome="accepted").inc(accepted)
    INGEST_SAMPLES.labels(outcome="duplicate").inc(duplicates)
    INGEST_SAMPLES.labels(outcome="rejected").inc(rejected)


# --- read at scrape time -------------------------------------------------------------------------------------


def _age_seconds(now, oldest) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def _outbox_families():
    """Rows waiting to be acted on, and how long the oldest has waited, per kind of side effect."""
    from apps.compute.models import ComputeSource
    from apps.escrow.models import ChainTx, ChainTxStatus
    from apps.reports.models import ExportStatus, GrantReportExport
    from apps.webhooks.models import DeliveryStatus, WebhookDelivery

    now = timezone.now()
    waiting = {
        "webhook_delivery": WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
            n=Count("id"), oldest=Min("created_at")
        ),
        "chain_tx": ChainTx.objects.filter(
            status__in=[ChainTxStatus.PENDING, ChainTxStatus.SIGNED, ChainTxStatus.SENT, ChainTxStatus.MINED]
        ).aggregate(n=Count("id"), oldest=Min("created_at")),
        "report_export": GrantReportExport.objects.filter(
            status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
        ).aggregate(n=Count("id"), oldest=Min("created_at")),
        # A collected source past its next run is a side effect waiting like the others (push sources never run).
        "compute_collection": ComputeSource.objects.filter(enabled=True, next_run_at__lte=now)
        .exclude(kind="push")
        .aggregate(n=Count("id"), oldest=Min("next_run_at")),
    }
    backlog = GaugeMetricFamily("govtrack_outbox_backlog", "Outbox rows not yet done, by kind.", labels=["kind"])
    age = GaugeMetricFamily(
        "govtrack_outbox_oldest_age_seconds",
        "How long the oldest waiting row of each kind has waited.",
        labels=["kind"],
    )
    for kind, row in waiting.items():
        backlog.add_metric([kind], row["n"])
        age.add_metric([kind], _age_seconds(now, row["oldest"]))
    return [backlog, age]


def _chain_families():
    from apps.escrow.chain import Rpc
    from apps.escrow.models import ChainTx, ChainTxStatus, SyncCursor

    txs = GaugeMetricFamily("govtrack_chain_transactions", "Chain transactions by status.", labels=["status"])
    counts = dict(ChainTx.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    for status in ChainTxStatus.values:
        txs.add_metric([status], counts.get(status, 0))
    families = [txs]
    if not settings.ETH_RPC_URL:
        return families
    indexed = SyncCursor.objects.filter(chain_id=settings.ETH_CHAIN_ID).aggregate(last=Max("last_block"))["last"]
    up = GaugeMetricFamily("govtrack_chain_node_up", "1 when the chain node answered this scrape.")
    try:
        head = Rpc(timeout=settings.METRICS_PROBE_TIMEOUT_SECONDS).block_number()
    except Exception as exc:  # the node's failure is a figure here, not an error of the scrape
        logger.info("metrics: chain node did not answer (%s)", exc)
        up.add_metric([], 0)
        return [*families, up]
    up.add_metric([], 1)
    families.append(up)
    families.append(GaugeMetricFamily("govtrack_chain_head_block", "The chain node's latest block.", value=head))
    if indexed is not None:
        families.append(
            GaugeMetricFamily(
                "govtrack_chain_lag_blocks",
                "Blocks between the node's head and the last one the escrow indexer has read.",
                value=max(head - indexed, 0),
            )
        )
    return families


def _verification_families():
    from apps.compute.models import VerificationReport
    from apps.webhooks.models import DeliveryStatus, WebhookDelivery

    runs = CounterMetricFamily(
        "govtrack_verification_reports", "Milestone verification reports written, by result.", labels=["result"]
    )
    tally = VerificationReport.objects.aggregate(
        n_pass=Count("id", filter=Q(passed=True)), n_fail=Count("id", filter=Q(passed=False))
    )
    runs.add_metric(["pass"], tally["n_pass"])
    runs.add_metric(["fail"], tally["n_fail"])
    webhooks = CounterMetricFamily(
        "govtrack_webhook_deliveries_failed",
        "Webhook deliveries that gave up after WEBHOOK_MAX_ATTEMPTS (the receiver never took them).",
    )
    webhooks.add_metric([], WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).count())
    retrying = GaugeMetricFamily(
        "govtrack_webhook_deliveries_retrying", "Pending webhook deliveries that have failed at least once."
    )
    retrying.add_metric([], WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0).count())
    return [runs, webhooks, retrying]


def _queue_families():
    if not settings.REDIS_URL:
        return []
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.METRICS_PROBE_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.METRICS_PROBE_TIMEOUT_SECONDS,
    )
    depth = GaugeMetricFamily("govtrack_celery_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in settings.TASK_QUEUES:
                pipe.llen(queue)
            pipe.hlen("unacked")
            *lengths, unacked = pipe.execute()
    finally:
        client.close()
    for queue, length in zip(settings.TASK_QUEUES, lengths, strict=True):
        depth.add_metric([queue], length)
    return [
        depth,
        GaugeMetricFamily(
            "govtrack_celery_unacked", "Tasks a worker has taken and not yet finished (acks late).", value=unacked
        ),
    ]


def _audit_families():
    from apps.audit.tasks import audit_last_verification

    last = audit_last_verification()
    if last is None:
        return []
    return [
        GaugeMetricFamily(
            "govtrack_audit_chains_broken",
            "Audit chains the last scheduled verification found broken (0: every chain verified).",
            value=len(last["broken"]),
        ),
        GaugeMetricFamily(
            "govtrack_audit_chains_verified", "Audit chains the last verification read.", value=last["chains"]
        ),
        GaugeMetricFamily(
            "govtrack_audit_last_verification_timestamp_seconds",
            "When the last scheduled audit-chain verification finished (Unix time).",
            value=last["at"],
        ),
    ]


SCRAPE_TIME_SOURCES = {
    "outbox": _outbox_families,
    "chain": _chain_families,
    "verification": _verification_families,
    "queues": _queue_families,
    "audit": _audit_families,
}


class ScrapeTimeCollector:
    """Reads each source once per scrape; a source that fails is reported as down, and the others still answer."""

    def collect(self):
        up = GaugeMetricFamily(
            "govtrack_metrics_source_up", "1 when the source answered this scrape.", labels=["source"]
        )
        for name, read in SCRAPE_TIME_SOURCES.items():
            try:
                families = read()
            except Exception as exc:  # a source's failure is a figure here, not an error of the scrape
                logger.warning("metrics: source %s failed: %s", name, exc)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def _process_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
@never_cache
def metrics(request):
    if not _authorized(request):
        raise Http404  # an unauthenticated caller learns nothing, not even that the endpoint exists
    scrape_time = CollectorRegistry(auto_describe=False)
    scrape_time.register(ScrapeTimeCollector())
    body = generate_latest(_process_registry()) + generate_latest(scrape_time)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
