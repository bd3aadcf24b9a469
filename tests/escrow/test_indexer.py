"""The indexer's decoding (eth_abi over the committed ABI, one path) and its less travelled roads: a provider that
caps eth_getLogs ranges (a real anvil behind a proxy that refuses wide ranges as hosted providers do), two indexer
runs at once, and the args column read back whole."""

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


def _plain(value):
    """What the indexer stores for an ABI value: numbers as decimal strings, bytes as 0x hex, lists item by item."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def test_every_event_of_the_abi_decodes_to_the_values_encoded():
    """Each event of the contract, with zero, maximal and random words and arrays of 0 to 3 items, encoded as a node
    returns it: decode_log gives back each argument under its name; a log of another event, or with a topic
    missing, is not the contract's and gives None."""
    rng = random.Random(7)
    for edge in range(3):
        for topic0, spec in chain_module.event_specs().items():
            values = {name: _value(kind, rng, edge) for name, kind in spec.fields}
            topics = [topic0] + ["0x" + abi_encode([kind], [values[name]]).hex() for name, kind in spec.indexed]
            data = "0x" + abi_encode([k for _, k in spec.data], [values[n] for n, _ in spec.data]).hex()
            log = {"topics": topics, "data": data}
            assert chain_module.decode_log(log) == (spec.name, {n: _plain(v) for n, v in values.items()}), spec.name
            if spec.indexed:
                assert chain_module.decode_log({"topics": topics[:-1], "data": data}) is None
    assert chain_module.decode_log({"topics": ["0x" + "ab" * 32], "data": "0x"}) is None


def test_a_page_is_stored_once_however_often_it_is_read(chain, settings):
    """The same page stored twice (a run that lost its cursor update, a re-read after a restart): one row per log,
    COPY's conflict taken by the session table, and the second store reports what it read."""
    chain.transact(chain.escrow.functions.pause(), chain.deployer)
    chain.transact(chain.escrow.functions.unpause(), chain.deployer)
    head = int(chain.rpc("eth_blockNumber"), 16)
    rpc = chain_module.Rpc()
    logs = rpc.logs(chain.escrow.address, 0, head)
    ours = indexer.Ours(set(), set())
    assert indexer._store(rpc, logs, chain.escrow.address, ours, head) == 3
    assert indexer._store(rpc, logs, chain.escrow.address, ours, head) == 3
    stored = ChainEvent.objects.order_by("block_number", "log_index")
    assert [e.name for e in stored] == ["OwnershipTransferred", "Paused", "Unpaused"]
    assert stored[1].args == {"account": chain.deployer} and all(e.block_timestamp for e in stored)


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
    assert len(refused) == 1  # the wider page, once; the pages after it keep the size that worked
    cursor.refresh_from_db()
    assert cursor.last_block == head + 12 and cursor.last_error == "" and cursor.page_size <= 3
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED


@pytest.mark.django_db(transaction=True)
def test_a_second_indexer_stands_aside_while_the_first_holds_the_cursor(chain, settings):
    """Two indexer runs at once (two workers, a beat tick during a long catch-up): the one that cannot lock the
    cursor says so and stores nothing; the next run carries on."""
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
