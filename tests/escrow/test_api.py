"""The escrow API: agreements, escrow status per milestone, the transaction history and its retry; lists cost a
constant number of queries; another organization's rows are not found."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core import health
from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus
from apps.escrow.services.agreements import escrow_agreement_create
from tests.escrow.factories import escrowable_investment
from tests.escrow.test_services import BENEFICIARY, offline  # noqa: F401 (fixture)


def _agreements(org, people, token, count):
    for _ in range(count):
        investment, _ = escrowable_investment(org)
        escrow_agreement_create(parent=investment, by=people["finance"], token=token, beneficiary_address=BENEFICIARY)


@pytest.mark.parametrize("path", ["/api/escrow/agreements/", "/api/escrow/milestones/", "/api/escrow/transactions/"])
def test_lists_cost_constant_queries(offline, org, people, client_for, path):  # noqa: F811
    client = client_for(people["viewer"])
    _agreements(org, people, offline, 1)
    client.get(path)  # warm: the role cache, the content types
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200
    _agreements(org, people, offline, 4)
    with CaptureQueriesContext(connection) as large:
        response = client.get(path)
    assert response.status_code == 200 and len(response.json()["results"]) >= 5
    assert len(large) == len(small)


def test_create_through_the_api(offline, org, people, client_for):  # noqa: F811
    investment, milestones = escrowable_investment(org)
    body = {"investment": str(investment.pk), "token": str(offline.pk), "beneficiary_address": BENEFICIARY}
    assert client_for(people["engineer"]).post("/api/escrow/agreements/", body).status_code == 403
    response = client_for(people["finance"]).post("/api/escrow/agreements/", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "creating" and data["total_base_units"] == "4000250000"
    assert [m["milestone"] for m in data["milestones"]] == [str(m.pk) for m in milestones]


def test_transactions_filter_and_retry(offline, org, people, client_for, outsider):  # noqa: F811
    _agreements(org, people, offline, 1)
    failed = ChainTx.objects.get(kind=ChainTxKind.CREATE)
    failed.status, failed.last_error = ChainTxStatus.FAILED, "Reverted on chain in block 7: DepositMismatch(...)."
    failed.save()
    client = client_for(people["finance"])
    listed = client.get("/api/escrow/transactions/?status=failed&has_error=true").json()["results"]
    assert [row["id"] for row in listed] == [str(failed.pk)]
    assert listed[0]["last_error"].startswith("Reverted on chain")

    assert client_for(people["viewer"]).post(f"/api/escrow/transactions/{failed.pk}/retry/").status_code == 403
    assert client_for(outsider).post(f"/api/escrow/transactions/{failed.pk}/retry/").status_code == 404
    response = client.post(f"/api/escrow/transactions/{failed.pk}/retry/")
    assert response.status_code == 202 and response.json()["retry_of"] == str(failed.pk)
    again = client.post(f"/api/escrow/transactions/{failed.pk}/retry/")
    assert again.status_code == 409 and "already retried" in again.json()["message"]


def test_readiness_reports_the_chain(chain, client, settings):
    from apps.escrow.health import chain_ready

    assert chain_ready().startswith("chain 31337 at block")
    health.READINESS_CHECKS["chain"] = chain_ready
    try:
        assert client.get("/readyz").json()["checks"]["chain"]["ok"] is True
        settings.ETH_CHAIN_ID = 1
        body = client.get("/readyz").json()
        assert body["failed"] == ["chain"] and "ETH_CHAIN_ID is 1" in body["checks"]["chain"]["error"]
    finally:
        health.READINESS_CHECKS.pop("chain", None)
