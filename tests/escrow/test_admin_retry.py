"""The chain transaction admin offers one action, the retry, through the outbox service in the staff user's name."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus
from apps.tenancy.models import Membership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ESCROW = "0x" + "12" * 20


@pytest.fixture
def support_finance(org):
    user = UserFactory(username="support-fin", is_staff=True, is_superuser=True)
    Membership.objects.create(organization=org, user=user, role=Role.FINANCE)
    return user


def retry(user, rows):
    client = Client()
    client.force_login(user)
    response = client.post(
        "/admin/escrow/chaintx/",
        {"action": "retry", "_selected_action": [str(row.pk) for row in rows], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def chain_tx(organization, status):
    signed = {} if status in (ChainTxStatus.PENDING, ChainTxStatus.FAILED) else {"nonce": 7, "raw_tx": "0x02f8"}
    return ChainTx.objects.create(
        organization=organization, kind=ChainTxKind.REFUND, chain_id=31337, to=ESCROW, status=status, **signed
    )


def test_retry_of_a_waiting_transaction_goes_through_the_service(org, support_finance, settings):
    settings.ESCROW_SEND_ON_COMMIT = False
    waiting = chain_tx(org, ChainTxStatus.PENDING)
    assert retry(support_finance, [waiting]) == [("success", "1 transaction(s) queued again.")]
    waiting.refresh_from_db()
    assert waiting.next_attempt_at is not None


def test_retry_refusals_show_the_services_reasons(org, support_finance):
    done = chain_tx(org, ChainTxStatus.CONFIRMED)
    deployment = chain_tx(None, ChainTxStatus.FAILED)
    shown = {message.split(": ", 1)[1]: level for level, message in retry(support_finance, [done, deployment])}
    assert shown == {
        "Cannot retry a confirmed transaction: only failed, waiting or unmined ones are retried.": "error",
        "Only the operator retries deployments (manage.py escrow_deploy).": "error",
    }
    assert ChainTx.objects.count() == 2


def test_a_transaction_page_shows_its_fields_read_only_without_the_raw_transaction(org, support_finance):
    sent = chain_tx(org, ChainTxStatus.SENT)
    client = Client()
    client.force_login(support_finance)
    page = client.get(f"/admin/escrow/chaintx/{sent.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert ESCROW in text and "0x02f8" not in text and 'name="status"' not in text
