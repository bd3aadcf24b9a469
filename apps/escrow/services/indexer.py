"""The indexer: reads the escrow contract's events from the chain and lets them decide what happened.

- Pages of eth_getLogs from the cursor; the page (in blocks) halves when the node complains about the range or
  the size of the answer (or times out), and doubles again after each success, up to ESCROW_LOG_PAGE_MAX_BLOCKS.
- Each log is stored once (unique on chain id, block hash, log index), decoded with the committed ABI.
- Forks: when the block at the cursor no longer has the stored hash, the indexer walks back over the blocks of
  its stored events to the newest one still canonical, removes (and undoes) every event above it, and rewinds.
- Effects are applied in chain order once an event's block is ESCROW_CONFIRMATIONS deep, each exactly once.
"""

import datetime as dt
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.escrow import chain
from apps.escrow.chain import ChainUnavailable, Rpc, RpcError
from apps.escrow.models import ChainEvent, EscrowAgreement, SyncCursor
from apps.escrow.services.effects import event_apply, event_remove
from apps.escrow.services.outbox import escrow_address, escrow_start_block

logger = logging.getLogger(__name__)

RANGE_ERRORS = ("range", "limit", "too many", "exceed", "size", "too large", "response", "results")


def _cursor(address: str) -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(
        chain_id=settings.ETH_CHAIN_ID,
        contract_address=address,
        defaults={"last_block": escrow_start_block() - 1, "page_size": settings.ESCROW_LOG_PAGE_BLOCKS},
    )
    return cursor


def _events(address: str):
    return ChainEvent.objects.filter(chain_id=settings.ETH_CHAIN_ID, contract_address=address)


def _rewind(cursor: SyncCursor, to_block: int, to_hash: str, address: str) -> int:
    """Removes (undoing) every stored event above `to_block`, newest first, and moves the cursor there."""
    removed = 0
    for event in (
        _events(address).filter(removed=False, block_number__gt=to_block).order_by("-block_number", "-log_index")
    ):
        event_remove(event=event)
        removed += 1
    cursor.last_block, cursor.last_block_hash = to_block, to_hash
    cursor.save(update_fields=["last_block", "last_block_hash", "updated_at"])
    logger.warning("escrow index rewound to block %s after a fork (%s events removed)", to_block, removed)
    return removed


def _check_fork(rpc: Rpc, cursor: SyncCursor, address: str) -> int:
    if cursor.last_block < 0 or not cursor.last_block_hash:
        return 0
    if rpc.block_hash(cursor.last_block) == cursor.last_block_hash:
        return 0
    # A fork deeper than the watch window is not looked for: the walk back stops at its floor.
    floor = max(escrow_start_block() - 1, cursor.last_block - settings.ESCROW_REORG_WATCH_BLOCKS)
    stored = (
        _events(address)
        .filter(removed=False, block_number__gt=floor, block_number__lte=cursor.last_block)
        .values_list("block_number", "block_hash")
        .distinct()
        .order_by("-block_number")
    )
    for number, block_hash in stored.iterator():
        if rpc.block_hash(number) == block_hash:
            return _rewind(cursor, number, block_hash, address)
    return _rewind(cursor, floor, rpc.block_hash(floor) if floor >= 0 else "", address)


def _fetch(rpc: Rpc, cursor: SyncCursor, address: str, head: int) -> tuple[int, int, list]:
    """One page of logs; halves the page on range/size complaints until one block is too much."""
    while True:
        start = cursor.last_block + 1
        end = min(head, start + cursor.page_size - 1)
        try:
            return start, end, rpc.logs(address, start, end)
        except (RpcError, ChainUnavailable) as exc:
            text = str(exc).lower()
            rangey = isinstance(exc, RpcError) and any(word in text for word in RANGE_ERRORS)
            if (rangey or "did not answer" in text) and cursor.page_size > 1:
                cursor.page_size = max(1, cursor.page_size // 2)
                logger.info("eth_getLogs page halved to %s blocks: %s", cursor.page_size, exc)
                continue
            raise


def _end_hash(rpc: Rpc, logs: list, end: int) -> str | None:
    """The hash of the page's last block: its logs carry it when it has some (in block order), else one call."""
    last = logs[-1] if logs else None
    if last is not None and not last.get("removed") and int(last["blockNumber"], 16) == end:
        return last["blockHash"]
    return rpc.block_hash(end)


def _block_time(log: dict, rpc: Rpc, cache: dict) -> dt.datetime | None:
    number = log["blockNumber"]
    if number not in cache:
        stamp = log.get("blockTimestamp")
        if stamp is None:
            block = rpc.block(int(number, 16))
            stamp = block["timestamp"] if block else None
        cache[number] = dt.datetime.fromtimestamp(int(stamp, 16), tz=dt.UTC) if stamp else None
    return cache[number]


# Column order of the rows _store builds (ChainEvent's fields, its bigint key left to the database).
EVENT_COLUMNS = (
    "chain_id",
    "contract_address",
    "block_number",
    "block_hash",
    "block_timestamp",
    "tx_hash",
    "log_index",
    "name",
    "args",
    "agreement_onchain_id",
    "removed",
    "applied",
    "effects",
)
BLOCK_HASH_AT = EVENT_COLUMNS.index("block_hash")


@dataclass
class Ours:
    """govtrack's agreements on this contract: their on-chain ids, and the refs of those not on chain yet."""

    ids: set
    refs: set

    @classmethod
    def load(cls, address: str) -> "Ours":
        rows = EscrowAgreement.objects.filter(chain_id=settings.ETH_CHAIN_ID, contract_address=address)
        ids, refs = set(), set()
        for onchain_id, ref in rows.values_list("onchain_id", "external_ref"):
            if onchain_id is None:
                refs.add(ref)
            else:
                ids.add(onchain_id)
        return cls(ids, refs)


def _rows(rpc: Rpc, logs: list, address: str, ours: Ours, last_final: int) -> list[tuple]:
    """One row per log of the contract. A log of someone else's agreement deep enough has nothing to apply: it is
    stored as applied, so applying touches only govtrack's own events."""
    rows, times, chain_id = [], {}, settings.ETH_CHAIN_ID
    for log in logs:
        if log.get("removed"):
            continue
        decoded = chain.decode_log(log)
        if decoded is None:
            continue
        name, args = decoded
        agreement_id = args.get("agreementId")
        agreement_id = int(agreement_id) if agreement_id is not None else None
        if name == "AgreementCreated" and args["externalRef"] in ours.refs:
            ours.ids.add(agreement_id)
        block_number = int(log["blockNumber"], 16)
        settled = block_number <= last_final and agreement_id not in ours.ids
        rows.append(
            (
                chain_id,
                address,
                block_number,
                log["blockHash"],
                _block_time(log, rpc, times),
                log["transactionHash"],
                int(log["logIndex"], 16),
                name,
                args,
                agreement_id,
                False,
                settled,
                {},
            )
        )
    return rows


# --- PostgreSQL: logs straight to COPY lines ----------------------------------------------------------------------
#
# The events whose every field is one word of a type written as plain ASCII (numbers, addresses, bytes32, bool) are
# decoded by a function made once per event from the committed ABI: it reads the words from the topics and the data
# and fills them into the args JSON, which needs no escaping (the same args as chain.decode_log). Any other event
# (AgreementCreated and its arrays, signed integers), or a log without the words its event should have, goes
# through chain.decode_log and json.dumps.

NULL = "\\N"  # COPY's text format
CHUNK_LINES = 2000  # COPY data is sent while the next lines are made: the server inserts as the client decodes


def _word_expression(kind: str, word: str) -> str | None:
    """Python source reading one word (`word`: source of a 0x-prefixed or bare 64-hex-digit string) as JSON."""
    if kind == "address":
        return f'checksummed("0x" + {word}[-40:])'
    if kind == "bytes32":
        return f"{word}" if word.startswith("topics") else f'"0x" + {word}'
    if kind == "bool":
        return f'("true" if int({word}, 16) else "false")'
    if kind.startswith("uint") and "[" not in kind:
        return f"int({word}, 16)"  # formatted with %s: exact decimal digits
    return None


@dataclass(frozen=True)
class LineSpec:
    name: str
    topics: int  # len(log["topics"])
    data: int  # len(log["data"]) in characters, "0x" included
    decode: object  # (topics, data) -> (args JSON, agreementId or None)


@functools.cache
def line_specs() -> dict[str, LineSpec | None]:
    """topic0 -> how to turn that event's words into its args JSON; None: decoded by chain.decode_log."""
    specs = {}
    for topic0, spec in chain.event_specs().items():
        words = [f"topics[{i + 1}]" for i in range(len(spec.indexed))]
        words += [f"data[{2 + 64 * i}:{66 + 64 * i}]" for i in range(len(spec.data))]
        fields = spec.indexed + spec.data
        expressions = [_word_expression(kind, word) for (_, kind), word in zip(fields, words, strict=True)]
        if not spec.static or spec.name == "AgreementCreated" or None in expressions:
            specs[topic0] = None
            continue
        template = "{" + ",".join(json.dumps(n) + (":%s" if k == "bool" else ':"%s"') for n, k in fields) + "}"
        names = [name for name, _ in fields]
        agreement = f"int({words[names.index('agreementId')]}, 16)" if "agreementId" in names else "None"
        source = f"def decode(topics, data):\n    return {template!r} % ({', '.join(expressions)},), {agreement}\n"
        namespace = {"checksummed": chain.checksummed}
        exec(compile(source, f"<{spec.name} decoder>", "exec"), namespace)  # noqa: S102 - source made from the ABI above
        specs[topic0] = LineSpec(spec.name, 1 + len(spec.indexed), 2 + 64 * len(spec.data), namespace["decode"])
    return specs


class Lines:
    """Turns a page of logs into COPY lines of EVENT_COLUMNS, CHUNK_LINES at a time; counts them and keeps the
    block hashes seen."""

    def __init__(self, rpc: Rpc, address: str, ours: Ours, last_final: int):
        self.rpc, self.address, self.ours, self.last_final = rpc, address, ours, last_final
        self.count, self.block_hashes = 0, set()
        self._blocks = {}  # blockNumber (hex) -> (block number, the line's start up to block_timestamp)
        self._times = {}

    def _block(self, log: dict) -> tuple[int, str]:
        key = log["blockNumber"]
        block = self._blocks.get(key)
        if block is None:
            number, stamp = int(key, 16), _block_time(log, self.rpc, self._times)
            stamp = stamp.isoformat() if stamp is not None else NULL
            start = f"{settings.ETH_CHAIN_ID}\t{self.address}\t{number}\t{log['blockHash']}\t{stamp}\t"
            block = self._blocks[key] = (number, start)
            self.block_hashes.add(log["blockHash"])
        return block

    def _slow(self, log: dict) -> tuple[str, str, int | None] | None:
        decoded = chain.decode_log(log)
        if decoded is None:
            return None
        name, args = decoded
        agreement_id = args.get("agreementId")
        agreement_id = int(agreement_id) if agreement_id is not None else None
        if name == "AgreementCreated" and args["externalRef"] in self.ours.refs:
            self.ours.ids.add(agreement_id)
        text = json.dumps(args, separators=(",", ":")).replace("\\", "\\\\")
        return name, text, agreement_id

    def chunks(self, logs: list):
        specs, ours_ids, last_final = line_specs(), self.ours.ids, self.last_final
        lines = []
        for log in logs:
            if log.get("removed"):
                continue
            topics = log["topics"]
            if not topics or topics[0] not in specs:
                continue
            spec, data = specs[topics[0]], log["data"]
            if spec is not None and len(topics) == spec.topics and len(data) == spec.data:
                name, (text, agreement_id) = spec.name, spec.decode(topics, data)
            else:  # not a one-word-per-field event, or a log that does not have the words its event should
                slow = self._slow(log)
                if slow is None:
                    continue
                name, text, agreement_id = slow
            number, start = self._block(log)
            settled = "t" if number <= last_final and agreement_id not in ours_ids else "f"
            agreement = NULL if agreement_id is None else agreement_id
            lines.append(
                f"{start}{log['transactionHash']}\t{int(log['logIndex'], 16)}\t{name}\t{text}\t"
                f"{agreement}\tf\t{settled}\t{{}}\n"
            )
            if len(lines) >= CHUNK_LINES:
                self.count += len(lines)
                yield "".join(lines)
                lines = []
        if lines:
            self.count += len(lines)
            yield "".join(lines)


def _copy(cursor, table: str, chunks) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)


def _insert_postgresql(lines: Lines, logs: list) -> None:
    """COPY straight into the table, written while the logs are decoded; when some logs are there already (a
    re-read), COPY into a session-local table and INSERT ... ON CONFLICT DO NOTHING: each log is stored once either
    way. The page's transaction commits without waiting for the WAL flush: a page lost in a crash is lost with the
    cursor that points past it, and read again."""
    import psycopg

    table = ChainEvent._meta.db_table
    sent = []

    def chunks():
        for chunk in lines.chunks(logs):
            sent.append(chunk)
            yield chunk

    pending = chunks()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            _copy(cursor, table, pending)
        return
    except (IntegrityError, psycopg.IntegrityError):  # COPY runs on the driver's cursor: psycopg's own error
        pass
    sent.extend(pending)  # whatever was not decoded when the COPY stopped
    columns = ", ".join(EVENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_in AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
        _copy(cursor, f"{table}_in", sent)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_in ON CONFLICT DO NOTHING")  # noqa: S608 - names from the model, no input
        cursor.execute(f"TRUNCATE {table}_in")


def _store(rpc: Rpc, logs: list, address: str, ours: Ours, last_final: int) -> int:
    if connection.vendor == "postgresql":
        lines = Lines(rpc, address, ours, last_final)
        _insert_postgresql(lines, logs)
        stored, block_hashes = lines.count, lines.block_hashes
    else:
        rows = _rows(rpc, logs, address, ours, last_final)
        ChainEvent.objects.bulk_create(
            [ChainEvent(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in rows], ignore_conflicts=True
        )
        stored, block_hashes = len(rows), {row[BLOCK_HASH_AT] for row in rows}
    if not stored:
        return 0
    # A block that left the chain and came back (same hash): its events count again.
    _events(address).filter(removed=True, block_hash__in=block_hashes).update(removed=False, applied=False)
    return stored


def _apply_confirmed(rpc: Rpc, cursor: SyncCursor, address: str, head: int) -> int:
    """Applies, in chain order, the stored events ESCROW_CONFIRMATIONS deep that are not applied yet: govtrack's
    agreements one event at a time, everyone else's (nothing to do) in one UPDATE."""
    last_final = head - settings.ESCROW_CONFIRMATIONS + 1
    pending = _events(address).filter(removed=False, applied=False, block_number__lte=last_final)
    # Logs and block hashes come from separate calls: a block replaced in between is caught here.
    blocks = pending.values_list("block_number", "block_hash").distinct().order_by("block_number")
    for number, block_hash in list(blocks):
        if rpc.block_hash(number) != block_hash:
            _rewind(cursor, number - 1, rpc.block_hash(number - 1) if number > 0 else "", address)
            pending = pending.filter(block_number__lt=number)
            break
    applied = 0
    ours = EscrowAgreement.objects.filter(chain_id=settings.ETH_CHAIN_ID, contract_address=address)
    waiting = {a.external_ref: a for a in ours if a.onchain_id is None}
    if waiting:
        created = pending.filter(name="AgreementCreated", args__externalRef__in=list(waiting))
        for event in created.order_by("block_number", "log_index"):
            event_apply(event=event, agreement=waiting[event.args["externalRef"]])
            applied += 1
    by_id = {a.onchain_id: a for a in ours.exclude(onchain_id=None)}
    if by_id:
        mine = pending.filter(agreement_onchain_id__in=list(by_id)).exclude(name="AgreementCreated")
        for event in mine.order_by("block_number", "log_index"):
            event_apply(event=event, agreement=by_id[event.agreement_onchain_id])
            applied += 1
    # Events of agreements govtrack did not create (or of pause/ownership): stored, nothing to do.
    return applied + pending.update(applied=True)


_PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="escrow-prefetch")


def _prefetch(rpc: Rpc, address: str, start: int, end: int):
    """Starts fetching the next page (on a connection of its own) while the current one is decoded and stored."""
    if start > end:
        return None
    own = Rpc(rpc.url, timeout=settings.ESCROW_RPC_TIMEOUT_SECONDS)
    return start, end, _PREFETCH.submit(own.logs, address, start, end)


def _prefetched_page(prefetched, rpc: Rpc, cursor: SyncCursor, address: str, head: int) -> tuple[int, int, list]:
    """The prefetched page, or, if fetching it failed (a range the provider refuses...), the page fetched again
    the usual way, which halves the range as needed."""
    start, end, future = prefetched
    try:
        return start, end, future.result()
    except (RpcError, ChainUnavailable):
        return _fetch(rpc, cursor, address, head)


def escrow_index(*, rpc: Rpc | None = None, max_pages: int | None = None) -> dict:
    """The indexer task's work: catch up to the head (or `max_pages` pages), then apply what is deep enough."""
    rpc = rpc or Rpc()
    chain.require_chain(rpc)
    address = escrow_address()
    cursor = _cursor(address)
    counts = {"stored": 0, "pages": 0, "removed": 0, "applied": 0}
    ours = Ours.load(address)
    try:
        with transaction.atomic():
            cursor = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
            if cursor is None:
                return {"busy": True}
            head = rpc.block_number()
            counts["removed"] = _check_fork(rpc, cursor, address)
        prefetched = None  # (start, end, future) of the next page, fetched while this one is stored
        while cursor.last_block < head and (max_pages is None or counts["pages"] < max_pages):
            if prefetched is not None and prefetched[0] == cursor.last_block + 1:
                _start, end, logs = _prefetched_page(prefetched, rpc, cursor, address, head)
            else:
                _start, end, logs = _fetch(rpc, cursor, address, head)
            end_hash = _end_hash(rpc, logs, end)
            if max_pages is None or counts["pages"] + 1 < max_pages:
                next_size = min(settings.ESCROW_LOG_PAGE_MAX_BLOCKS, cursor.page_size * 2)  # as set below
                prefetched = _prefetch(rpc, address, end + 1, min(head, end + next_size))
            with transaction.atomic():
                locked = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
                if locked is None or locked.last_block != cursor.last_block:
                    return {**counts, "busy": True}  # another indexer moved it: it carries on
                last_final = head - settings.ESCROW_CONFIRMATIONS + 1
                counts["stored"] += _store(rpc, logs, address, ours, last_final)
                cursor.last_block, cursor.last_block_hash = end, end_hash
                cursor.page_size = min(settings.ESCROW_LOG_PAGE_MAX_BLOCKS, cursor.page_size * 2)
                cursor.last_error, cursor.last_synced_at = "", timezone.now()
                cursor.save()
            counts["pages"] += 1
        counts["applied"] = _apply_confirmed(rpc, cursor, address, head)
    except (RpcError, ChainUnavailable) as exc:
        SyncCursor.objects.filter(pk=cursor.pk).update(last_error=str(exc)[:2000], page_size=cursor.page_size)
        raise
    return counts
