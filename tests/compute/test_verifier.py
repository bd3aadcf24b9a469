"""The standalone verifier (compute_hooks/verify.py + evidence.py, standard library only) on a real report.

It runs as an auditor would run it: a separate interpreter without site-packages (`python -S -E -s`), on the files
`manage.py verification_export` wrote, and against the escrow contract on a real anvil.
"""

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from web3 import Web3
from web3.logs import DISCARD

from apps.compute.services.ingest import samples_ingest
from apps.compute.services.verification import criterion_verify
from compute_hooks import verify
from compute_hooks.evidence import canonical_bytes
from tests.compute.conftest import _iso, compute_criterion, load_minute, wire
from tests.escrow.conftest import anvil, chain  # noqa: F401 - a real anvil with MilestoneEscrow deployed

pytestmark = pytest.mark.django_db

VERIFY = Path(verify.__file__)


def run_verifier(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-S", "-E", "-s", str(VERIFY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


@pytest.fixture
def exported(org, people, milestone, h200, minute, tmp_path):
    """A report made by govtrack from ingested samples (two minutes, one device), exported for the verifier. Of the
    second minute's 30 samples, pushed at its end, the 14 within the 30 s allowance are on time, the rest late."""
    load_minute(h200, minute)
    following = minute + dt.timedelta(minutes=1)
    samples_ingest(
        device=h200,
        samples=[wire(following + dt.timedelta(seconds=s), 10.0 + s / 3) for s in range(0, 60, 2)],
        now=following + dt.timedelta(seconds=61),
    )
    end = minute + dt.timedelta(minutes=2)
    criterion = compute_criterion(
        milestone, people["finance"], start=_iso(minute), end=_iso(end), threshold=40, min_coverage="0.3"
    )
    report = criterion_verify(criterion=criterion, now=end + dt.timedelta(minutes=1))
    call_command("verification_export", str(report.pk), str(tmp_path))
    return report, tmp_path / "report.json", tmp_path / "samples.csv"


def test_the_verifier_passes_on_a_real_report_and_fails_on_changed_values(exported, tmp_path):
    report, report_file, samples_file = exported
    assert report_file.read_bytes() == report.canonical_json.encode()
    with open(samples_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 32 and rows[0]["device"] == "GPU-h200" and rows[0]["value"] == "99.0"

    good = run_verifier(report_file, "--samples", samples_file, "--sha256", report.sha256)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"sha256 {report.sha256}" in good.stdout and good.stdout.rstrip().endswith("VERIFIED")
    assert "Merkle root of 32 raw samples" in good.stdout

    # A changed minute value, written back in canonical form: the value re-derived from the points differs from the
    # one the report states, and the hash is not the one recorded.
    document = json.loads(report.canonical_json)
    document["devices"][0]["points"][0][1] = "99"
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(canonical_bytes(document))
    bad = run_verifier(tampered, "--sha256", report.sha256)
    assert bad.returncode == 1
    assert "FAIL device GPU-h200: value" in bad.stdout and "FAIL the hash is the one expected" in bad.stdout

    # A changed raw sample: the Merkle root of the export no longer matches the report's.
    rows[5]["value"] = "98.0"
    changed = tmp_path / "changed.csv"
    with open(changed, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["device", "metric", "ts", "value"])
        writer.writeheader()
        writer.writerows(rows)
    bad = run_verifier(report_file, "--samples", changed)
    assert bad.returncode == 1 and "FAIL device GPU-h200: Merkle root of 32 raw samples" in bad.stdout

    # A report file that is not in canonical form (whitespace added) is not the one hashed.
    spaced = tmp_path / "spaced.json"
    spaced.write_text(json.dumps(json.loads(report.canonical_json), indent=1))
    bad = run_verifier(spaced)
    assert bad.returncode == 1 and "FAIL the file is the RFC 8785 canonical form" in bad.stdout


def test_the_export_is_also_served_by_the_api_to_members_only(exported, people, client_for, outsider):
    report, _, samples_file = exported
    response = client_for(people["viewer"]).get(f"/api/compute/reports/{report.pk}/samples/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert b"".join(response.streaming_content) == samples_file.read_bytes()
    assert client_for(outsider).get(f"/api/compute/reports/{report.pk}/samples/").status_code == 404


def test_the_selector_is_the_escrow_view():
    assert "0x" + Web3.keccak(text="getMilestone(uint256,uint256)")[:4].hex() == verify.GET_MILESTONE_SELECTOR


def test_the_verifier_checks_the_hash_the_escrow_contract_recorded(exported, chain):  # noqa: F811
    report, report_file, _ = exported
    escrow = chain.escrow

    def agreement_attested_with(evidence: bytes) -> int:
        create = escrow.functions.createAgreement(
            chain.beneficiary, "0x" + "00" * 20, [10**15], [int(timezone.now().timestamp()) + 86400], [chain.signer],
            1, b"\x00" * 32,
        )  # fmt: skip
        receipt = chain.w3.eth.wait_for_transaction_receipt(create.transact({"from": chain.signer, "value": 10**15}))
        agreement = escrow.events.AgreementCreated().process_receipt(receipt, errors=DISCARD)[0].args.agreementId
        chain.transact(escrow.functions.attest(agreement, 0, evidence), chain.signer)
        return agreement

    matching = agreement_attested_with(bytes.fromhex(report.sha256))
    other = agreement_attested_with(bytes.fromhex("ab" * 32))
    base = ["--rpc", chain.anvil.url, "--escrow", escrow.address, "--milestone", 0]

    good = run_verifier(report_file, *base, "--agreement", matching)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK   the escrow contract records this report's hash" in good.stdout

    bad = run_verifier(report_file, *base, "--agreement", other)
    assert bad.returncode == 1 and f"it records 0x{'ab' * 32}" in bad.stdout
