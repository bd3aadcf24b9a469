"""Escrow indexer throughput: events/s through `escrow_index` (eth_getLogs pages, decoding with eth_abi and the
committed ABI, storing each log once in PostgreSQL with COPY, fork check, applying in chain order) against a bare
eth_getLogs fetch of the same block range, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/escrow_indexer.py

Events are generated fast on a private anvil: automine off, a few thousand createAgreement (20 milestones each)
and attest calls sent with eth_sendTransaction from anvil's unlocked accounts. Two shapes, each on its own
contract: "spread", BENCH_TXS_PER_BLOCK (3) transactions a block, so 10,000 events cover more than 1,000 blocks as
a real contract emits them; and "2-block", everything mined in two big blocks (and a few after). The agreements
are not govtrack's own (no effects to apply beyond marking them done): this measures the indexing path itself.
Goal: the indexer reaches at least 0.5 of the bare fetch rate. Each figure is the median of BENCH_RUNS (5) runs, the
two kinds taking turns.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdb import ROOT, bench_database, django_setup

TARGET_EVENTS = 10_000
MILESTONES = 20  # per agreement: 1 AgreementCreated + 20 MilestoneCreated + 20 x (Attested + MilestoneApproved)
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TXS_PER_BLOCK = int(os.environ.get("BENCH_TXS_PER_BLOCK", "3"))
SHAPES = os.environ.get("BENCH_SHAPES", "spread,2-block").split(",")
GOAL = 0.5
ANVIL = ROOT / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
if not ANVIL.exists():
    ANVIL = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Node:
    def __init__(self, url: str):
        self.url, self.session, self.id = url, requests.Session(), 0

    def call(self, method: str, *params):
        self.id += 1
        body = {"jsonrpc": "2.0", "id": self.id, "method": method, "params": list(params)}
        answer = self.session.post(self.url, json=body, timeout=120).json()
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self.session.post(self.url, json=body, timeout=300).json()
        errors = [a["error"] for a in answers if a.get("error")]
        if errors:
            raise RuntimeError(f"batch: {errors[:3]}")
        return [a["result"] for a in sorted(answers, key=lambda a: a["id"])]


def _mine_all(node: Node) -> None:
    while int(node.call("txpool_status")["pending"], 16):
        node.call("evm_mine")


def generate(node: Node, *, spread: bool) -> tuple[str, int, int]:
    """Deploys an escrow and fills blocks with its events; returns (address, first block, last block)."""
    from apps.escrow import chain

    accounts = [chain.to_checksum_address(a) for a in node.call("eth_accounts")]
    owner, funder, approver, beneficiary = accounts[0], accounts[2], accounts[3], accounts[4]
    receipt_hash = node.call(
        "eth_sendTransaction", {"from": owner, "data": chain.encode_deploy("MilestoneEscrow", [owner])}
    )
    receipt = None
    while receipt is None:
        receipt = node.call("eth_getTransactionReceipt", receipt_hash)
    address = chain.to_checksum_address(receipt["contractAddress"])
    first = int(node.call("eth_blockNumber"), 16) + 1
    agreements = -(-TARGET_EVENTS // (1 + 3 * MILESTONES))
    now = int(node.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    node.call("evm_setAutomine", False)
    funder_nonce = int(node.call("eth_getTransactionCount", funder, "pending"), 16)
    approver_nonce = int(node.call("eth_getTransactionCount", approver, "pending"), 16)
    creates = []
    for n in range(agreements):
        data = chain.encode_call(
            "MilestoneEscrow",
            "createAgreement",
            [beneficiary, chain.ZERO_ADDRESS, [1] * MILESTONES, [now + 86_400] * MILESTONES, [approver], 1,
             n.to_bytes(32, "big")],
        )  # fmt: skip
        tx = {"from": funder, "to": address, "data": data, "value": hex(MILESTONES), "gas": hex(3_000_000)}
        tx["nonce"] = hex(funder_nonce + n)
        creates.append(("eth_sendTransaction", [tx]))
    attests = []
    for agreement_id in range(1, agreements + 1):
        for index in range(MILESTONES):
            data = chain.encode_call("MilestoneEscrow", "attest", [agreement_id, index, b"\x01" * 32])
            tx = {"from": approver, "to": address, "data": data, "gas": hex(120_000), "nonce": hex(approver_nonce)}
            attests.append(("eth_sendTransaction", [tx]))
            approver_nonce += 1
    if spread:  # every agreement exists before it is attested: creates first, then attests, a few a block
        for calls in (creates, attests):
            for start in range(0, len(calls), TXS_PER_BLOCK):
                node.batch(calls[start : start + TXS_PER_BLOCK])
                node.call("evm_mine")
    else:
        node.batch(creates)
        node.call("evm_mine")
        for start in range(0, len(attests), 1000):
            node.batch(attests[start : start + 1000])
    _mine_all(node)
    node.call("evm_setAutomine", True)
    return address, first, int(node.call("eth_blockNumber"), 16)


def main() -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--chain-id", "31337", "--gas-limit", "300000000", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        with bench_database("escrow_indexer") as db_url:
            os.environ.update(
                ETH_RPC_URL=url,
                ETH_CHAIN_ID="31337",
                ESCROW_CONFIRMATIONS="1",
                ESCROW_LOG_PAGE_BLOCKS="10000",
                ESCROW_LOG_PAGE_MAX_BLOCKS="10000",
            )
            django_setup(db_url)
            run(Node(url), url)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def run(node: Node, url: str) -> None:
    from django.conf import settings

    settings.DEBUG = False  # no query log in the timings, as in production
    # Pages start at one block (BENCH_FIRST_PAGE), as behind a provider that caps eth_getLogs, and double as they
    # succeed. The baseline fetches the whole range in one call.
    settings.ESCROW_LOG_PAGE_BLOCKS = int(os.environ.get("BENCH_FIRST_PAGE", "1"))
    ratios = {}
    for label, spread in (("spread", True), ("2-block", False)):
        if label not in SHAPES:
            continue
        started = time.perf_counter()
        address, first, last = generate(node, spread=spread)
        print(f"{label}: generated blocks {first}..{last} in {time.perf_counter() - started:.1f}s")
        ratios[label] = measure(label, url, address, first, last)
    print("ratio (indexer / bare): " + ", ".join(f"{label} {ratio:.2f}" for label, ratio in ratios.items()))
    print(f"goal >= {GOAL}: " + ("OK" if min(ratios.values()) >= GOAL else "BELOW GOAL"))


def measure(label: str, url: str, address: str, first: int, last: int) -> float:
    from django.conf import settings
    from django.db import connection

    from apps.escrow.chain import Rpc
    from apps.escrow.models import ChainEvent, SyncCursor
    from apps.escrow.services.indexer import escrow_index

    settings.ESCROW_ADDRESS, settings.ESCROW_START_BLOCK = address, first
    rpc = Rpc(url, timeout=120)

    def empty_index() -> None:
        """Every run starts from an empty index, as the first does: TRUNCATE, not DELETE, which would leave each
        key's dead row in the unique index for the next run's inserts to step over."""
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {ChainEvent._meta.db_table}, {SyncCursor._meta.db_table}")

    bare_times, ours_times, events, pages = [], [], 0, 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        logs = rpc.logs(address, first, last)
        bare_times.append(time.perf_counter() - t0)
        events = len(logs)

        empty_index()
        t0 = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            counts = profiler.runcall(escrow_index, rpc=rpc)
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(25)
        else:
            counts = escrow_index(rpc=rpc)
        ours_times.append(time.perf_counter() - t0)
        assert counts["stored"] == events, counts
        assert ChainEvent.objects.filter(applied=True).count() == events
        pages = counts["pages"]
    assert ChainEvent.objects.count() == events >= TARGET_EVENTS
    blocks = ChainEvent.objects.values("block_number").distinct().count()

    bare, ours = statistics.median(bare_times), statistics.median(ours_times)
    payload = len(json.dumps(logs))
    print(f"[{label}] events: {events} in {blocks} blocks of {last - first + 1} ({payload / 1e6:.1f} MB of logs)")
    print(f"[{label}] bare eth_getLogs:   {events / bare:>9,.0f} events/s  ({bare * 1000:.0f} ms, median of {RUNS})")
    print(
        f"[{label}] govtrack indexer:   {events / ours:>9,.0f} events/s  ({ours * 1000:.0f} ms, median of {RUNS}, "
        f"{pages} pages)"
    )
    ratio = bare / ours
    print(f"[{label}] ratio (indexer / bare): {ratio:.2f}  (goal >= {GOAL})  {'OK' if ratio >= GOAL else 'BELOW GOAL'}")
    return ratio


if __name__ == "__main__":
    main()
