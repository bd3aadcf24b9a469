"""Evidence to payout, on a real local anvil: from the moment a fleet's samples meet a compute criterion (the last
batch is ingested) to the milestone verified, its release approved, attested on chain and released by the indexer.
Two paths, each run BENCH_RUNS times (default 3) in the same process, and their medians:

- **tick-driven** (the safety net alone): beat's two loops on their own threads and database connections, the
  compute verification every COMPUTE_VERIFY_EVERY_SECONDS (15 s) and escrow-sync every ESCROW_POLL_SECONDS (5 s),
  started together as beat starts them; ESCROW_SEND_ON_COMMIT off, no block watcher.
- **event-driven**: no ticks. The evaluation is queued by the ingest that completes the window (here the benchmark
  runs it right after the last batch, as that queued task does); the release approval's attestation leaves on
  commit through the outbox (ESCROW_SEND_ON_COMMIT; with no broker the nudge runs the escrow round in-process, as
  the embedded default does); the block watcher (`escrow_watch`, ESCROW_WATCH_SECONDS = 1) runs a round on each
  new block. On anvil's automine the attestation is mined as it is sent, so the on-commit round does it all.
- **event-driven, 1 s blocks**: the same, on a chain that mines a block every second (anvil's interval mining, as a
  real chain mines on its own clock): the on-commit round sends, and the watcher confirms and indexes the block
  that holds the attestation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/compute_evidence_to_payout.py

Each run has its own eight GPUs with a week of rollups at ~75% whose last 10 hours are missing (coverage 94%,
below the 95% asked), its own grant milestone and its own escrow agreement (MilestoneEscrow and a MockERC20
deployed through the outbox as `manage.py escrow_deploy` and the demo seeder do; the deposit on chain before the
evidence arrives). The missing hours then arrive through the ingest API. A release needs a person's approval
(govtrack never approves a release by itself): the benchmark's finance user approves the moment the milestone is
verified (polled every 20 ms), and that wait is shown on its own line. Goal, event-driven: evidence verified →
released on chain and recorded < 3 s. The baseline is the tick-driven path of the same run.
"""

import datetime as dt
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_common import REPO_ROOT, bench_database, organization_with_engineer

GPUS, DAYS, MISSING_HOURS = 8, 7, 10
GOAL_SECONDS = 3
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DECIMALS = 6
# anvil's first default account (its key is public, printed by anvil at start): govtrack's signer, the funder.
ANVIL_SIGNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_BINARIES = (
    # The native binary stops with its parent's signal; the Node wrapper could leave it running.
    REPO_ROOT / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
    REPO_ROOT / "contracts" / "node_modules" / ".bin" / "anvil",
)
# tick: beat's loops only; event: on ingest, on commit, and the watcher (automine: mined as it is sent);
# block: the same event-driven path on a chain that mines a block every second, where the watcher does the work.
PATHS = tuple(os.environ.get("BENCH_PATHS", "tick,event,block").split(","))
PATH_NAMES = {"tick": "tick-driven", "event": "event-driven", "block": "event-driven, 1 s blocks"}
STAGES = (
    ("verified", "milestone verified"),
    ("approved", "release approved (by the finance user)"),
    ("sent", "attestation sent"),
    ("mined", "attestation mined (receipt)"),
    ("onchain", "approved on chain (getMilestone)"),
    ("confirmed", "attestation confirmed"),
    ("released", "funding milestone released by the indexer"),
)


class Anvil:
    """A local chain (31337, automining: one block per transaction) on a free port, for the benchmark's lifetime."""

    def __init__(self):
        binary = next((path for path in ANVIL_BINARIES if path.exists()), None)
        if binary is None:
            sys.exit("anvil is missing: cd contracts && npm ci")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", "31337", "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> "Anvil":
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    sys.exit(f"anvil did not start on port {self.port}")
                time.sleep(0.05)

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    os.environ["ESCROW_SIGNER_KEY"] = ANVIL_SIGNER_KEY
    with bench_database("payout") as url, Anvil() as anvil:
        from django.conf import settings

        from apps.escrow.chain import Rpc
        from apps.escrow.models import ChainTxKind
        from apps.escrow.services.agreements import escrow_token_register
        from apps.escrow.services.deployment import contract_deploy, escrow_contract_deploy
        from apps.escrow.services.outbox import chaintx_enqueue
        from apps.escrow.signer import signer_address
        from apps.tenancy.models import Role
        from apps.tenancy.services import membership_add, user_create

        settings.ETH_RPC_URL = anvil.url
        settings.ETH_CHAIN_ID = 31337
        settings.ESCROW_ADDRESS = ""  # the contract deployed below, as escrow_deploy records it
        settings.ESCROW_START_BLOCK = 0
        settings.ESCROW_CONFIRMATIONS = 1
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # one line per in-process round otherwise
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)

        started = time.perf_counter()
        rpc = Rpc()
        escrow_address, _ = escrow_contract_deploy(rpc=rpc)
        token_deployment = contract_deploy(rpc=rpc, artifact="MockERC20", args=["Bench EUR", "BEUR", DECIMALS])
        token = escrow_token_register(
            address=token_deployment.contract_address, symbol="BEUR", decimals=DECIMALS, currency="EUR",
            name="Bench EUR",
        )  # fmt: skip
        chaintx_enqueue(
            kind=ChainTxKind.TOKEN_MINT,
            to=token.address,
            params={"account": signer_address(), "amount": str(100_000_000 * 10**DECIMALS)},
        )
        organization, owner, engineer = organization_with_engineer()
        finance = user_create(username="bench-finance", password=None)
        membership_add(organization=organization, user=finance, role=Role.FINANCE, by=owner)
        people = {"owner": owner, "engineer": engineer, "finance": finance}
        print(
            f"anvil on port {anvil.port} (chain 31337, automine, {settings.ESCROW_CONFIRMATIONS} confirmation): "
            f"escrow {escrow_address}, token {token.symbol}; {RUNS} runs per path; setup "
            f"{time.perf_counter() - started:.1f} s"
        )
        results = {path: [] for path in PATHS}
        for number in range(RUNS):
            for path in PATHS:
                stages = one_run(url, anvil, organization, people, token, escrow_address, f"{path}{number}", path)
                results[path].append(stages)
                shown = ", ".join(f"{key} {stages[key]:.2f}" for key, _ in STAGES if stages.get(key) is not None)
                print(f"  run {number + 1} {PATH_NAMES[path]}: s since evidence: {shown}")
        report(settings, results)


def one_run(url, anvil, organization, people, token, escrow_address, label: str, path: str) -> dict:
    import psycopg
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from web3 import HTTPProvider, Web3

    from apps.compute.models import DeviceKind
    from apps.compute.services.devices import device_create
    from apps.compute.services.verification import compute_criteria_verify_due
    from apps.escrow.chain import Rpc, artifact
    from apps.escrow.demo import LOCAL_BENEFICIARY
    from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus, EscrowMilestone, OnchainMilestoneStatus
    from apps.escrow.services.agreements import escrow_agreement_create
    from apps.escrow.services.watcher import escrow_watch
    from apps.escrow.tasks import escrow_sync
    from apps.funding.models import Funder, Grant, Milestone, MilestoneStatus
    from apps.funding.services.milestones import criterion_add, milestone_approve_release, milestone_submit

    owner, engineer, finance = people["owner"], people["engineer"], people["finance"]
    settings.ESCROW_SEND_ON_COMMIT = False  # the setup's own rounds below; the event path turns it on after
    devices = [
        device_create(
            organization=organization,
            by=engineer,
            key=f"{label}-GPU-{i}",
            kind=DeviceKind.GPU,
            labels={"cluster": label},
        )
        for i in range(GPUS)
    ]
    now = timezone.now()
    end = now.replace(second=0, microsecond=0)
    gap_start = end - dt.timedelta(hours=MISSING_HOURS)
    with psycopg.connect(url) as pg:
        pg.execute(
            "INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count) "
            "SELECT d, 'gpu.utilization', m, 75 + 5 * sin(extract(epoch from m) / 3600), 60, 90, 6 "
            "FROM unnest(%s::uuid[]) d, generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') m",
            [[d.pk for d, _ in devices], end - dt.timedelta(days=DAYS), gap_start - dt.timedelta(minutes=1)],
        )
        pg.commit()
    funder = Funder.objects.create(organization=organization, name=f"Agency {label}", kind="government_agency")
    grant = Grant.objects.create(
        organization=organization, funder=funder, title=f"GPU grant {label}", currency="EUR",
        amount_requested=100000, amount_awarded=100000, period_start=(now - dt.timedelta(days=30)).date(),
        period_end=(now + dt.timedelta(days=300)).date(), status="active",
    )  # fmt: skip
    milestone = Milestone.objects.create(
        organization=organization, grant=grant, title="GPU cluster: 8 GPUs at 70% for a week", amount=30000,
        currency="EUR", due_date=(now + dt.timedelta(days=20)).date(), status="in_progress",
    )  # fmt: skip
    criterion_add(
        milestone=milestone, by=owner, kind="compute",
        description="8 GPUs at >= 70% average for 7 days, 95% coverage",
        config={"metric": "gpu.utilization", "threshold": 70, "window_days": DAYS,
                "device_selector": {"cluster": label}, "min_devices": GPUS},
    )  # fmt: skip
    milestone_submit(milestone=milestone, by=engineer)
    agreement = escrow_agreement_create(parent=grant, by=owner, token=token, beneficiary_address=LOCAL_BENEFICIARY)
    escrow_milestone = EscrowMilestone.objects.get(milestone=milestone)
    deadline = time.monotonic() + 60
    while escrow_milestone.onchain_status != OnchainMilestoneStatus.PENDING:
        if time.monotonic() > deadline:
            sys.exit(f"the agreement did not reach the chain: {escrow_sync()}")
        escrow_sync()
        escrow_milestone.refresh_from_db()
    agreement.refresh_from_db()
    escrow = Web3(HTTPProvider(anvil.url)).eth.contract(address=escrow_address, abi=artifact("MilestoneEscrow")["abi"])
    get_milestone = escrow.functions.getMilestone(agreement.onchain_id, escrow_milestone.index)

    stop = threading.Event()
    threads = []

    def loop(every: float, step) -> None:
        while not stop.is_set():
            begun = time.perf_counter()
            step()
            stop.wait(max(0.0, every - (time.perf_counter() - begun)))
        connection.close()

    def approver() -> None:
        # A finance person who approves the release the moment it can be approved.
        while not stop.is_set():
            current = Milestone.objects.get(pk=milestone.pk)
            if current.status == MilestoneStatus.VERIFIED and current.release_authorized_at is None:
                milestone_approve_release(milestone=current, by=finance)
                break
            stop.wait(0.02)
        connection.close()

    def watcher() -> None:
        escrow_watch(stop=stop, every=settings.ESCROW_WATCH_SECONDS)
        connection.close()

    if path == "tick":
        threads += [
            threading.Thread(target=loop, args=(settings.COMPUTE_VERIFY_EVERY_SECONDS, compute_criteria_verify_due)),
            threading.Thread(target=loop, args=(settings.ESCROW_POLL_SECONDS, escrow_sync)),
        ]
    else:
        settings.ESCROW_SEND_ON_COMMIT = True
        threads.append(threading.Thread(target=watcher))
    if path == "block":
        Rpc().call("evm_setAutomine", False)
        Rpc().call("evm_setIntervalMining", 1)
    threads.append(threading.Thread(target=approver))
    for thread in threads:
        thread.daemon = True
        thread.start()
    if path == "tick":
        time.sleep(settings.COMPUTE_VERIFY_EVERY_SECONDS / 3)  # the evidence lands between two ticks
    else:
        time.sleep(1.5)  # the watcher has seen its first head

    client = Client()
    for device, device_token in devices:
        samples = [
            {
                "metric": "gpu.utilization",
                "ts": (gap_start + dt.timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "value": 72.0 + (i % 6),
            }
            for i in range(MISSING_HOURS * 60 * 6)
            if gap_start + dt.timedelta(seconds=10 * i) < end
        ]
        for chunk in range(0, len(samples), 5000):
            body = json.dumps({"device": device.key, "samples": samples[chunk : chunk + 5000]})
            response = client.post(
                "/api/compute/ingest/", data=body, content_type="application/json",
                HTTP_AUTHORIZATION=f"Device {device_token}",
            )  # fmt: skip
            assert response.status_code == 200 and not response.json()["errors"], response.content
    evidence_at, evidence_wall = time.perf_counter(), time.time()
    if path != "tick":
        counts = compute_criteria_verify_due()  # what the ingest that completes the window queues
        if not counts["passed"]:
            print(f"  the evaluation did not pass: {counts}")

    observed: dict[str, float] = {}
    while True:
        elapsed = time.perf_counter() - evidence_at
        current = Milestone.objects.get(pk=milestone.pk)
        attest = ChainTx.objects.filter(escrow_milestone=escrow_milestone, kind=ChainTxKind.ATTEST).first()
        if attest is not None and attest.tx_hash and "mined" not in observed and Rpc().receipt(attest.tx_hash):
            observed["mined"] = time.perf_counter() - evidence_at
        if "onchain" not in observed and get_milestone.call()[2] == 2:
            observed["onchain"] = time.perf_counter() - evidence_at
        if attest is not None and attest.status == ChainTxStatus.FAILED:
            stop.set()
            sys.exit(f"the attestation failed: {attest.last_error}")
        if current.status == MilestoneStatus.RELEASED or elapsed > 120:
            break
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(settings.COMPUTE_VERIFY_EVERY_SECONDS + 10)
    settings.ESCROW_SEND_ON_COMMIT = False
    if path == "block":
        Rpc().call("evm_setIntervalMining", 0)
        Rpc().call("evm_setAutomine", True)

    def since(moment) -> float | None:
        return None if moment is None else moment.timestamp() - evidence_wall

    current = Milestone.objects.get(pk=milestone.pk)
    attest = ChainTx.objects.filter(escrow_milestone=escrow_milestone, kind=ChainTxKind.ATTEST).first()
    return {
        "verified": since(current.verified_at),
        "approved": since(current.release_authorized_at),
        "sent": since(attest.sent_at) if attest else None,
        "mined": observed.get("mined"),
        "onchain": observed.get("onchain"),
        "confirmed": since(attest.confirmed_at) if attest else None,
        "released": since(current.released_at),
    }


def report(settings, results: dict) -> None:
    def median(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def span(stages: dict, start: str, stop: str) -> float | None:
        if stages.get(start) is None or stages.get(stop) is None:
            return None
        return stages[stop] - stages[start]

    print(
        f"tick-driven: verification every {settings.COMPUTE_VERIFY_EVERY_SECONDS} s, escrow-sync every "
        f"{settings.ESCROW_POLL_SECONDS} s; event-driven: evaluation on ingest, attestation on commit, block watcher "
        f"every {settings.ESCROW_WATCH_SECONDS} s"
    )
    columns = "".join(f"{PATH_NAMES[path]:>26}" for path in PATHS)
    print(f"median of {RUNS} runs, s since evidence ingested {columns}")
    for key, name in STAGES:
        values = [median([run[key] for run in results[path]]) for path in PATHS]
        shown = "".join(f"{value:26.2f}" if value is not None else f"{'not reached':>26}" for value in values)
        print(f"  {name:<44}{shown}")
    lines = {
        "verified -> released": ("verified", "released"),
        "release approved -> released": ("approved", "released"),
        "evidence -> released": (None, "released"),
    }
    figures = {}
    for name, (start, stop) in lines.items():
        for path in PATHS:
            runs = results[path]
            values = [run.get(stop) if start is None else span(run, start, stop) for run in runs]
            figures[(name, path)] = median(values)
            every = ", ".join("-" if v is None else f"{v:.2f}" for v in values)
            value = figures[(name, path)]
            shown = "not reached" if value is None else f"{value:.2f} s"
            print(f"{name} ({PATH_NAMES[path]}): median {shown} (runs: {every})")
    baseline = figures.get(("verified -> released", "tick"))
    for path in [path for path in PATHS if path != "tick"]:
        goal = figures[("verified -> released", path)]
        if goal is None:
            print(f"{PATH_NAMES[path]}: the milestone was not released")
            continue
        ratio = f"; {baseline / goal:.1f}x faster than tick-driven" if baseline else ""
        verdict = "OK" if goal < GOAL_SECONDS else f"ABOVE GOAL by {goal - GOAL_SECONDS:.2f} s"
        print(f"goal: verified -> released < {GOAL_SECONDS} s ({PATH_NAMES[path]}): {goal:.2f} s {verdict}{ratio}")


if __name__ == "__main__":
    main()
