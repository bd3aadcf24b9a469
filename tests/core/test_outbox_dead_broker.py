"""With the broker stopped, API writes still answer at their normal speed and their side effects wait as rows; once
the broker is back, beat's sweeps deliver every webhook and send every chain intent, each exactly once.

Everything is real: a redis-server of the test's own (stopped, then started again empty on the same port), a Celery
worker process on it, a webhook receiver on a loopback port and an anvil chain with the escrow contract."""

import time

import pytest
import redis
from django.db import connection

from apps.escrow.models import AgreementStatus, ChainTx, ChainTxKind, ChainTxStatus, EscrowAgreement
from apps.escrow.tasks import escrow_sync
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from apps.webhooks.services import webhook_endpoint_create
from apps.webhooks.tasks import webhook_sweep
from govtrack.celery import app as celery_app
from tests.escrow.conftest import SIGNER_KEY, anvil, chain  # noqa: F401 (fixtures)
from tests.escrow.factories import escrowable_investment
from tests.funding.factories import GrantFactory
from tests.receivers import Receiver
from tests.workers import CeleryWorker

pytestmark = pytest.mark.services

# What the outbox may add to a write while the broker is dead: one nudge timeout (OUTBOX_NUDGE_TIMEOUT_SECONDS) and
# scheduling noise on a busy machine; before the outbox, a write waited on the dead broker for seconds.
DEAD_BROKER_ALLOWANCE_SECONDS = 0.25
DEPOSIT = 4000_250000  # escrowable_investment's two milestones, 1500.25 + 2500 USD at 6 decimals


def wait_for(condition, *, timeout: float = 60, every: float = 0.2, each=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {condition.__doc__ or condition}")
        if each is not None:
            each()
        time.sleep(every)


def beat(*tasks) -> None:
    """What celery beat does on schedule: publish the sweep tasks (to the test's Redis)."""
    with celery_app.connection_for_write() as conn:
        for task in tasks:
            task.apply_async(connection=conn, ignore_result=True)


@pytest.fixture
def stack(transactional_db, private_redis, chain, broker_at, settings, tmp_path):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on a server (PostgreSQL)")
    settings.WEBHOOKS_ALLOW_HTTP = True  # the loopback receiver speaks plain http
    settings.ESCROW_SEND_ON_COMMIT = True  # the request nudges the sender, as in production
    # The operator's allowance for an internal receiver (here the loopback one), in the web and the worker.
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    broker_at(private_redis.url)
    # The API's rate-limit counters live in the same Redis in production: stopped with it here too.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    worker = CeleryWorker(
        connection=connection,
        redis_url=private_redis.url,
        log=tmp_path / "worker.log",
        env={
            "ETH_RPC_URL": chain.anvil.url,
            "ETH_CHAIN_ID": "31337",
            "ESCROW_ADDRESS": chain.escrow.address,
            "ESCROW_START_BLOCK": "0",
            "ESCROW_CONFIRMATIONS": "1",
            "ESCROW_SIGNER_KEY": SIGNER_KEY,
            "EGRESS_ALLOW_NETWORKS": "127.0.0.1/32",
            "WEBHOOKS_ALLOW_HTTP": "1",
        },
    )
    worker.start()
    with Receiver() as receiver:
        wait_for(lambda: worker_listening(private_redis.url), timeout=60)
        yield {"redis": private_redis, "receiver": receiver, "chain": chain}
    worker.stop()


def worker_listening(url: str) -> bool:
    """The worker waits on its queue (BRPOP) on this Redis."""
    try:
        return any(client.get("cmd") == "brpop" for client in redis.Redis.from_url(url).client_list())
    except redis.RedisError:
        return False


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_writes_answer_while_redis_is_down_and_every_side_effect_goes_out_once_it_is_back(
    stack, org, people, token_client_for
):
    redis_server, receiver, chain = stack["redis"], stack["receiver"], stack["chain"]  # noqa: F811
    finance = token_client_for(people["finance"])
    webhook_endpoint_create(organization=org, by=people["finance"], url=receiver.url, events=[])
    grants = [GrantFactory(organization=org, status="draft") for _ in range(6)]

    def submit(grant):
        return timed(lambda: finance.post(f"/api/grants/{grant.pk}/submit/"))

    def create_agreement():
        investment, _ = escrowable_investment(org)
        body = {"investment": str(investment.pk), "token": str(chain.usd.pk), "beneficiary_address": chain.beneficiary}
        return timed(lambda: finance.post("/api/escrow/agreements/", body))

    # Broker up: the nudges reach the worker, which delivers and sends with no sweep at all. The first write warms
    # the process up (URL resolution, serializers) and is not timed.
    normal = []
    for grant in grants[:3]:
        response, elapsed = submit(grant)
        assert response.status_code == 200
        normal.append(elapsed)
    normal = normal[1:]
    response, normal_create = create_agreement()
    assert response.status_code == 201
    wait_for(lambda: len(receiver.requests) == 3)
    wait_for(lambda: EscrowAgreement.objects.filter(status=AgreementStatus.ACTIVE).count() == 1)

    # Broker down: every write still answers at its normal speed, and its side effects are rows.
    redis_server.stop()
    slow = []
    for grant in grants[3:]:
        response, elapsed = submit(grant)
        assert response.status_code == 200, response.content
        slow.append(elapsed)
    response, down_create = create_agreement()
    assert response.status_code == 201, response.content
    waiting_agreement = response.json()["id"]
    print(f"grant submit: {[round(s * 1000) for s in normal]} ms up, {[round(s * 1000) for s in slow]} ms down")
    print(f"agreement create: {normal_create * 1000:.0f} ms up, {down_create * 1000:.0f} ms down")
    assert max(slow) < max(normal) + DEAD_BROKER_ALLOWANCE_SECONDS
    assert down_create < normal_create + DEAD_BROKER_ALLOWANCE_SECONDS

    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3
    waiting_intents = ChainTx.objects.filter(agreement_id=waiting_agreement)
    assert sorted(waiting_intents.values_list("kind", "status")) == [
        (ChainTxKind.CREATE, ChainTxStatus.PENDING),
        (ChainTxKind.TOKEN_APPROVE, ChainTxStatus.PENDING),
    ]
    assert len(receiver.requests) == 3 and chain.escrow.functions.agreementCount().call() == 1

    # Broker back (empty: whatever it held is gone): beat's sweeps find the rows the nudges never announced.
    redis_server.start()
    wait_for(lambda: worker_listening(redis_server.url), timeout=90)

    def all_delivered():
        """every webhook delivered and the second agreement active on chain"""
        delivered = WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 6
        active = EscrowAgreement.objects.filter(pk=waiting_agreement, status=AgreementStatus.ACTIVE).exists()
        return delivered and active

    wait_for(all_delivered, timeout=90, every=1, each=lambda: beat(webhook_sweep, escrow_sync))

    # Another round of sweeps sends nothing again.
    beat(webhook_sweep, escrow_sync)
    time.sleep(3)
    event_ids = [r["headers"]["X-Govtrack-Delivery"] for r in receiver.requests]
    assert len(event_ids) == len(set(event_ids)) == 6
    assert chain.escrow.functions.agreementCount().call() == 2
    assert chain.balance(chain.escrow.address) == 2 * DEPOSIT
    assert ChainTx.objects.filter(kind=ChainTxKind.CREATE).count() == 2
    assert set(waiting_intents.values_list("status", flat=True)) == {ChainTxStatus.CONFIRMED}
