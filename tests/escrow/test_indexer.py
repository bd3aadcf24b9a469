"""The indexer's two less travelled roads: the COPY lines made straight from the logs (checked against the ABI
decoder and the rows the other databases get), and a provider that caps eth_getLogs ranges (against a real anvil,
behind a proxy that refuses wide ranges as hosted providers do)."""

import datetime as dt
import http.server
import json
import random
import threading

import pytest
import requests
from eth_abi import encode as abi_encode

from apps.escrow import chain as chain_module
from apps.escrow.models import ChainEvent, SyncCursor
from apps.escrow.services import indexer
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.models import MilestoneStatus
from tests.conftest import free_port
from tests.escrow.conftest import sync, verify_and_approve
from tests.escrow.factories import escrowable_investment

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
STAMP = 1_790_000_000


def _value(kind: str, rng: random.Random, edge: int):
    if kind == "address":
        return chain_module.checksummed("0x" + rng.randbytes(20).hex())
    if kind == "bytes32":
        return rng.randbytes(32)
    if kind == "bool":
        return bool(edge % 2)
    if kind.endswith("[]"):
        return [_value(kind[:-2], rng, edge) for _ in range(edge % 4)]
    bits = int(kind.removeprefix("uint") or 256)
    return (0, (1 << bits) - 1, rng.randrange(1 << bits))[edge % 3]


def _log(topic0: str, spec: chain_module.EventSpec, rng: random.Random, edge: int, block: int, index: int) -> dict:
    """A log of `spec` as a node returns it, its fields filled with edge and random values."""
    topics = [topic0] + [
        "0x" + abi_encode([kind], [_value(kind, rng, edge)]).hex() for _, kind in spec.indexed
    ]  # fmt: skip
    kinds = [kind for _, kind in spec.data]
    data = "0x" + abi_encode(kinds, [_value(kind, rng, edge) for kind in kinds]).hex()
    return {
        "address": ADDRESS.lower(),
        "topics": topics,
        "data": data,
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "blockTimestamp": hex(STAMP + block),
        "transactionHash": "0x" + rng.randbytes(32).hex(),
        "logIndex": hex(index),
        "removed": False,
    }


def _columns(line: str) -> dict:
    """One COPY text line back into its values (the lines made here never need COPY's backslash escapes but \\N)."""
    values = [None if value == "\\N" else value for value in line.rstrip("\n").split("\t")]
    row = dict(zip(indexer.EVENT_COLUMNS, values, strict=True))
    row["args"], row["effects"] = json.loads(row["args"]), json.loads(row["effects"])
    return row


def test_copy_lines_match_the_abi_decoder_and_the_plain_rows(settings):
    """Every event of the ABI, with zero, maximal and random words, through the line makers (and, for events they
    do not take, the decoder): each line holds what chain.decode_log and the row path (_rows, used off PostgreSQL)
    make of the same log, whether or not its agreement is govtrack's and whether or not its block is final."""
    settings.ETH_CHAIN_ID = 31337
    rng = random.Random(7)
    specs = chain_module.event_specs()
    logs, index = [], 0
    for block in (10, 11):
        for edge in range(3):
            for topic0, spec in specs.items():
                logs.append(_log(topic0, spec, rng, edge, block, index))
                index += 1
    logs.append({**logs[0], "topics": ["0x" + "ab" * 32], "logIndex": hex(index)})  # not an escrow event: skipped
    logs.append({**logs[1], "removed": True, "logIndex": hex(index + 1)})  # dropped by the node: skipped
    assert all(maker is not None for maker in indexer.line_makers().values())

    ours = {1, 3}  # a govtrack agreement among the random ids: its events are never stored as applied
    for log in logs[:3]:
        if "agreementId" in (name for name, _ in specs[log["topics"][0]].indexed):
            ours.add(int(log["topics"][1], 16))
    # govtrack's agreement waiting for its AgreementCreated: matched by its external ref, then counted as ours.
    created = [log for log in logs[:-2] if chain_module.decode_log(log)[0] == "AgreementCreated"][-1]
    waiting = chain_module.decode_log(created)[1]
    assert int(waiting["agreementId"]) not in ours
    refs = {waiting["externalRef"]}
    lines_ours, rows_ours = indexer.Ours(set(ours), set(refs)), indexer.Ours(set(ours), set(refs))
    lines = indexer.Lines(None, ADDRESS, lines_ours, last_final=10)
    made = [_columns(line) for chunk in lines.chunks(logs) for line in chunk.splitlines(keepends=True)]
    rows = indexer._rows(None, logs, ADDRESS, rows_ours, last_final=10)
    ours.add(int(waiting["agreementId"]))
    assert lines_ours.ids == rows_ours.ids == ours

    assert len(made) == len(rows) == len(logs) - 2 and lines.count == len(made)
    assert lines.block_hashes == {logs[0]["blockHash"], logs[-3]["blockHash"]}
    for line, row, log in zip(made, rows, logs, strict=False):
        name, args = chain_module.decode_log(log)
        assert line["name"] == name and line["args"] == args, name
        expected = dict(zip(indexer.EVENT_COLUMNS, row, strict=True))
        assert int(line["chain_id"]) == expected["chain_id"] == 31337
        assert line["contract_address"] == expected["contract_address"] == ADDRESS
        assert int(line["block_number"]) == expected["block_number"] == int(log["blockNumber"], 16)
        assert line["block_hash"] == expected["block_hash"] and line["tx_hash"] == expected["tx_hash"]
        assert dt.datetime.fromisoformat(line["block_timestamp"]) == expected["block_timestamp"]
        assert int(line["log_index"]) == expected["log_index"]
        agreement = expected["agreement_onchain_id"]
        assert (int(line["agreement_onchain_id"]) if line["agreement_onchain_id"] else None) == agreement
        assert line["removed"] == "f" and not expected["removed"]
        assert line["applied"] == ("t" if expected["applied"] else "f")
        assert expected["applied"] == (expected["block_number"] <= 10 and agreement not in ours)
        assert line["effects"] == expected["effects"] == {}


def test_a_log_without_its_words_is_decoded_the_slow_way(settings):
    """A log whose data is not the canonical encoding of its event (longer than its words; an array elsewhere than
    right after the head) is not sliced blindly: the ABI decoder reads it."""
    settings.ETH_CHAIN_ID = 31337
    specs = {spec.name: (topic0, spec) for topic0, spec in chain_module.event_specs().items()}
    approved = _log(*specs["MilestoneApproved"], random.Random(1), 2, 5, 0)
    approved["data"] += "00" * 32
    created = _log(*specs["AgreementCreated"], random.Random(2), 2, 5, 1)
    data = created["data"][2:]
    offset = int(data[192:256], 16)
    created["data"] = (
        "0x" + data[:192] + f"{offset + 32:064x}" + data[256 : 2 * offset] + "00" * 32 + data[2 * offset :]
    )
    makers = indexer.line_makers()
    assert all(makers[log["topics"][0]](log, "", True, set(), set()) is None for log in (approved, created))
    lines = indexer.Lines(None, ADDRESS, indexer.Ours(set(), set()), last_final=5)
    made = [_columns(line) for chunk in lines.chunks([approved, created]) for line in chunk.splitlines()]
    assert [row["args"] for row in made] == [chain_module.decode_log(log)[1] for log in (approved, created)]
    assert len(made[1]["args"]["approvers"]) == 2


class CappedRpc(http.server.BaseHTTPRequestHandler):
    """Stands in for a hosted provider that caps eth_getLogs ranges; everything else goes to anvil unchanged."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = json.loads(body)
        if request.get("method") == "eth_getLogs":
            query = request["params"][0]
            first, last = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            self.server.ranges.append((first, last))
            if last - first + 1 > self.server.cap:
                message = f"eth_getLogs is limited to a {self.server.cap} block range"
                answer = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32602, "message": message}}
                return self._send(json.dumps(answer).encode())
        upstream = requests.post(
            self.server.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        self._send(upstream.content)

    def _send(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def capped_rpc(chain):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), CappedRpc)
    server.upstream, server.cap, server.ranges = chain.anvil.url, 3, []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_capped_provider_ranges_are_halved_and_every_log_is_stored_once(chain, org, people, settings, capped_rpc):
    settings.ETH_RPC_URL = f"http://127.0.0.1:{capped_rpc.server_address[1]}"
    settings.ESCROW_LOG_PAGE_BLOCKS, settings.ESCROW_LOG_PAGE_MAX_BLOCKS = 16, 16
    settings.ESCROW_LOG_PAGES_AHEAD = 2
    investment, (first, _second) = escrowable_investment(org)
    chain.mine(20)  # the agreement's events come after a stretch of empty blocks
    escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    sync()
    verify_and_approve(first, people)
    sync()
    chain.mine(9)
    result = sync()

    head = int(chain.rpc("eth_blockNumber"), 16)
    truth = chain.rpc("eth_getLogs", {"address": chain.escrow.address, "fromBlock": "0x0", "toBlock": hex(head)})
    stored = list(ChainEvent.objects.values_list("block_hash", "log_index", "name"))
    assert sorted(stored) == sorted(
        (log["blockHash"], int(log["logIndex"], 16), chain_module.decode_log(log)[0]) for log in truth
    )
    assert {"AgreementCreated", "MilestoneCreated", "Attested", "MilestoneApproved"} <= {name for *_, name in stored}
    cursor = SyncCursor.objects.get()
    assert cursor.last_block == head and cursor.last_error == ""
    assert result["indexed"]["pages"] >= 3
    # The provider refused the wide ranges; the indexer came down to what it takes and kept that size.
    assert (0, 15) in capped_rpc.ranges and any(b - a + 1 > 3 for a, b in capped_rpc.ranges)
    assert cursor.page_size <= 3

    # The next run starts from the size that worked, tries one wider page, and stays below the cap after that.
    chain.mine(12)
    capped_rpc.ranges.clear()
    assert sync()["indexed"]["pages"] >= 4
    refused = [(a, b) for a, b in capped_rpc.ranges if b - a + 1 > 3]
    assert (head + 1, head + cursor.page_size) in capped_rpc.ranges  # its first page: the size that worked
    assert 1 <= len(refused) <= 1 + settings.ESCROW_LOG_PAGES_AHEAD  # the wider page and the pages planned after it
    cursor.refresh_from_db()
    assert cursor.last_block == head + 12 and cursor.last_error == "" and cursor.page_size <= 3
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED


@pytest.mark.django_db(transaction=True)
def test_a_second_indexer_stands_aside_while_the_first_holds_the_cursor(chain, settings):
    """Two indexer runs at once (two workers, a beat tick during a long catch-up): the one that cannot lock the
    cursor says so and stores nothing; the pages it had set fetching are dropped; the next run carries on."""
    from django.db import connection, transaction

    settings.ESCROW_LOG_PAGE_BLOCKS = 1
    indexer.escrow_index()  # the contract's deployment: the cursor exists
    chain.transact(chain.escrow.functions.pause(), chain.deployer)
    chain.transact(chain.escrow.functions.unpause(), chain.deployer)
    chain.mine(5)
    stored_before = ChainEvent.objects.count()

    locked, release = threading.Event(), threading.Event()

    def hold_the_cursor():
        with transaction.atomic():
            SyncCursor.objects.select_for_update().get()
            locked.set()
            release.wait(timeout=30)
        connection.close()

    holder = threading.Thread(target=hold_the_cursor)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        assert indexer.escrow_index() == {"busy": True}
        assert ChainEvent.objects.count() == stored_before
    finally:
        release.set()
        holder.join(timeout=30)

    result = indexer.escrow_index()
    assert result["stored"] == 2
    head = int(chain.rpc("eth_blockNumber"), 16)
    assert SyncCursor.objects.get().last_block == head
    assert sorted(ChainEvent.objects.values_list("name", flat=True)) == sorted(
        ["OwnershipTransferred", "Paused", "Unpaused"]
    )


def test_stored_args_read_back_whole_through_the_orm_and_the_admin(admin_client):
    """The args column is PostgreSQL json (written by COPY, read whole): rows written by the ORM and read by it, in
    a queryset of values and in the admin, give back the same dict."""
    args = {"agreementId": "5", "milestoneIndex": "0", "evidenceHash": "0x" + "ef" * 32, "amount": "1000000"}
    event = ChainEvent.objects.create(
        chain_id=31337,
        contract_address=ADDRESS,
        block_number=7,
        block_hash="0x" + "ab" * 32,
        tx_hash="0x" + "cd" * 32,
        log_index=3,
        name="MilestoneApproved",
        args=args,
        agreement_onchain_id=5,
    )
    event.refresh_from_db()
    assert event.args == args and ChainEvent.objects.values_list("args", flat=True).get() == args
    page = admin_client.get(f"/admin/escrow/chainevent/{event.pk}/change/")
    assert page.status_code == 200 and "1000000" in page.content.decode()
    listing = admin_client.get("/admin/escrow/chainevent/", {"q": event.tx_hash})
    assert listing.status_code == 200 and "MilestoneApproved" in listing.content.decode()
