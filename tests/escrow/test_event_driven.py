"""Payout without ticks: an approved release leaves on commit and is released by the same round; the block watcher
(`manage.py escrow_watch`, a process of its own) records what happens on chain within seconds of the block."""

import os
import subprocess
import sys
import time

from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.models import Disbursement, DisbursementKind, MilestoneStatus
from apps.funding.services.milestones import milestone_approve_release, milestone_verify
from tests.escrow.conftest import ROOT, SIGNER_KEY, sync
from tests.escrow.factories import escrowable_investment
from tests.workers import database_url


def test_an_approved_release_is_released_on_commit_without_a_tick(
    chain, org, people, settings, django_capture_on_commit_callbacks
):
    settings.ESCROW_SEND_ON_COMMIT = True
    investment, (first, _) = escrowable_investment(org)
    with django_capture_on_commit_callbacks(execute=True):
        escrow_agreement_create(
            parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
        )
    milestone_verify(milestone=first, by=people["finance"])

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as nudges:
        milestone_approve_release(milestone=first, by=people["owner"])
    elapsed = time.monotonic() - started

    assert len(nudges) == 1  # the attestation's nudge: no tick, no manual sync
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    assert attest.status == ChainTxStatus.CONFIRMED
    assert chain.milestone(1, 0)["status"] == 2
    assert elapsed < 10, elapsed  # loosely: one sync round, far below the 5 s escrow tick plus its round


def test_the_block_watcher_records_a_withdrawal_within_seconds(transactional_db, chain, org, people, tmp_path):
    from django.db import connection

    investment, (first, _) = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    sync()
    milestone_verify(milestone=first, by=people["finance"])
    milestone_approve_release(milestone=first, by=people["owner"])
    sync()
    agreement.refresh_from_db()

    log = tmp_path / "watch.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "ETH_RPC_URL": chain.anvil.url,
        "ETH_CHAIN_ID": "31337",
        "ESCROW_ADDRESS": chain.escrow.address,
        "ESCROW_CONFIRMATIONS": "1",
        "ESCROW_SIGNER_KEY": SIGNER_KEY,
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    env.pop("REDIS_URL", None)
    with log.open("w") as out:
        watcher = subprocess.Popen(
            [sys.executable, "manage.py", "escrow_watch", "--every", "0.5", "-v", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "watching" not in log.read_text():  # the process is up (Django loaded) before the clock starts
            assert watcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(1)
        chain.transact(chain.escrow.functions.withdraw(agreement.onchain_id), chain.beneficiary)
        withdrawn = time.monotonic()
        while not Disbursement.objects.filter(milestone=first, kind=DisbursementKind.ONCHAIN).exists():
            assert time.monotonic() - withdrawn < 15, log.read_text()
            time.sleep(0.1)
        elapsed = time.monotonic() - withdrawn
    finally:
        watcher.terminate()
        watcher.wait(timeout=20)
    assert elapsed < 10, elapsed  # loosely: about one poll and one round; beat's tick is not running here
    assert "stopped after" in log.read_text()
    assert chain.balance(chain.beneficiary) == 1500_250000
