"""The indexer: reads the escrow contract's events from the chain and lets them decide what happened.

- Pages of eth_getLogs from the cursor; the page (in blocks) halves when the node complains about the range or
  the size of the answer (or times out), and doubles after each success, up to ESCROW_LOG_PAGE_MAX_BLOCKS, except
  in a run that was refused (it keeps the size that worked; the next run tries a wider page again).
- The next ESCROW_LOG_PAGES_AHEAD pages are fetched (by a pool of threads) while the current one is stored.
- PostgreSQL: logs are turned straight into COPY lines, COPY streamed while they are made.
- Each log is stored once (unique on chain id, block hash, log index), decoded with the committed ABI.
- Forks: when the block at the cursor no longer has the stored hash, the indexer walks back over the blocks of
  its stored events to the newest one still canonical, removes (and undoes) every event above it, and rewinds.
- Effects are applied in chain order once an event's block is ESCROW_CONFIRMATIONS deep, each exactly once.
"""

import datetime as dt
import functools
import json
import logging
from collections import deque
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
# Every event whose fields are words of a type written as plain ASCII (numbers, addresses, bytes32, bool), or arrays
# of such words, gets a line maker: a function made once per event from the committed ABI that reads the words from
# the log's topics and data and writes the whole COPY line, args JSON included, in one f-string (no escaping is
# needed; the args are the same as chain.decode_log's, which the tests check). A log whose data is not the canonical
# encoding of its event, or an event with other types (signed integers, strings), goes through chain.decode_log.

NULL = "\\N"  # COPY's text format
CHUNK_LINES = 1000  # COPY data is sent while the next lines are made: the server inserts as the client decodes


def _word_expression(kind: str, word: str) -> str | None:
    """Python source reading one word (`word`: source of a 0x-prefixed or bare 64-hex-digit string) as JSON text."""
    if kind == "address":
        return f'checksummed("0x" + {word}[-40:])'
    if kind == "bytes32":
        return word if word.startswith("topics") else f'"0x" + {word}'
    if kind == "bool":
        return f'("true" if int({word}, 16) else "false")'
    if kind.startswith("uint") and "[" not in kind:
        return f"int({word}, 16)"  # formatted by the f-string: exact decimal digits
    return None


def _json_value(kind: str, expression: str) -> str:
    """f-string text of one JSON value: numbers, addresses and hashes as strings (as chain.decode_log), bool bare."""
    return "{" + expression + "}" if kind == "bool" else '"{' + expression + '}"'


def _line_maker_source(spec: chain.EventSpec) -> str | None:
    """Source of `line(log, start, final, ids, refs)`: the COPY line of one log of this event after `start` (the
    block's columns), or None when the log is not the canonical encoding of the event. `final`: the block is deep
    enough; `ids`: govtrack's on-chain agreement ids (a log of someone else's agreement deep enough is stored
    applied); `refs`: the external refs of govtrack's agreements not on chain yet (their AgreementCreated adds the
    id to `ids`)."""
    heads, arrays = len(spec.data), any(kind.endswith("[]") for _, kind in spec.data)
    body = [
        "topics, data = log['topics'], log['data']",
        f"if len(topics) != {1 + len(spec.indexed)} or len(data) {'<' if arrays else '!='} {2 + 64 * heads}:",
        "    return None",
    ]
    if arrays:
        body.append(f"tail = {2 + 64 * heads}")  # where the next array's words begin (hex digits, "0x" included)
    members, names = [], [name for name, _ in spec.indexed + spec.data]
    sources = [(field, f"topics[{i + 1}]") for i, field in enumerate(spec.indexed)]
    sources += [(field, f"data[{2 + 64 * i}:{66 + 64 * i}]") for i, field in enumerate(spec.data)]
    for number, ((name, kind), word) in enumerate(sources):
        if kind.endswith("[]"):  # the head word is the offset of its tail: the length, then one word per item
            item = _word_expression(kind[:-2], "items[i:i + 64]")
            if item is None or word.startswith("topics"):
                return None
            body += [
                f"if int({word}, 16) * 2 + 2 != tail:",
                "    return None",
                "count = int(data[tail:tail + 64], 16)",
                "items, tail = data[tail + 64:tail + 64 + 64 * count], tail + 64 + 64 * count",
                "if len(items) != 64 * count:",
                "    return None",
                f"array{number} = ','.join([f'{_json_value(kind[:-2], item)}' for i in range(0, 64 * count, 64)])",
            ]
            members.append(json.dumps(name) + ":[{array" + str(number) + "}]")
            continue
        expression = _word_expression(kind, word)
        if expression is None:
            return None
        if name in ("agreementId", "externalRef"):
            body.append(f"{name} = {expression}")
            expression = name
        members.append(json.dumps(name) + ":" + _json_value(kind, expression))
    if arrays:
        body += ["if len(data) != tail:", "    return None"]
    if "agreementId" in names and "externalRef" in names:
        body += ["if externalRef in refs:", "    ids.add(agreementId)"]
    if "agreementId" in names:
        tail = '{agreementId}\\tf\\t{"t" if final and agreementId not in ids else "f"}'
    else:
        tail = '\\\\N\\tf\\t{"t" if final else "f"}'
    args = "{{" + ",".join(members) + "}}"
    body.append(
        'return f\'{start}{log["transactionHash"]}\\t{int(log["logIndex"], 16)}\\t'
        + f"{spec.name}\\t{args}\\t{tail}\\t{{{{}}}}\\n'"
    )
    return "def line(log, start, final, ids, refs):\n" + "".join(f"    {statement}\n" for statement in body)


@functools.cache
def line_makers() -> dict:
    """topic0 -> that event's line maker; None: the event is decoded by chain.decode_log."""
    makers = {}
    for topic0, spec in chain.event_specs().items():
        source = _line_maker_source(spec)
        if source is None:
            makers[topic0] = None
            continue
        namespace = {"checksummed": chain.checksummed}
        exec(compile(source, f"<{spec.name} line>", "exec"), namespace)  # noqa: S102 - source made from the ABI above
        makers[topic0] = namespace["line"]
    return makers


class Lines:
    """Turns a page of logs into COPY lines of EVENT_COLUMNS, CHUNK_LINES at a time; counts them and keeps the
    block hashes seen."""

    def __init__(self, rpc: Rpc, address: str, ours: Ours, last_final: int):
        self.rpc, self.address, self.ours, self.last_final = rpc, address, ours, last_final
        self.count, self.block_hashes = 0, set()
        self._times = {}

    def _block_start(self, log: dict) -> tuple[str, bool]:
        """The line's columns up to block_timestamp, and whether the block is deep enough."""
        number, stamp = int(log["blockNumber"], 16), _block_time(log, self.rpc, self._times)
        stamp = stamp.isoformat() if stamp is not None else NULL
        self.block_hashes.add(log["blockHash"])
        start = f"{settings.ETH_CHAIN_ID}\t{self.address}\t{number}\t{log['blockHash']}\t{stamp}\t"
        return start, number <= self.last_final

    def _slow(self, log: dict, start: str, final: bool) -> str | None:
        decoded = chain.decode_log(log)
        if decoded is None:
            return None
        name, args = decoded
        agreement_id = args.get("agreementId")
        agreement_id = int(agreement_id) if agreement_id is not None else None
        if name == "AgreementCreated" and args["externalRef"] in self.ours.refs:
            self.ours.ids.add(agreement_id)
        text = json.dumps(args, separators=(",", ":")).replace("\\", "\\\\")
        settled = "t" if final and agreement_id not in self.ours.ids else "f"
        agreement = NULL if agreement_id is None else agreement_id
        return (
            f"{start}{log['transactionHash']}\t{int(log['logIndex'], 16)}\t{name}\t{text}\t"
            f"{agreement}\tf\t{settled}\t{{}}\n"
        )

    def chunks(self, logs: list):
        makers, ours_ids, ours_refs = line_makers(), self.ours.ids, self.ours.refs
        lines, block = [], None
        for log in logs:
            if log.get("removed"):
                continue
            topics = log["topics"]
            maker = makers.get(topics[0], False) if topics else False
            if maker is False:  # not an event of the contract's ABI
                continue
            if log["blockNumber"] != block:  # logs come in block order: the block's columns are made once
                block = log["blockNumber"]
                start, final = self._block_start(log)
            line = maker(log, start, final, ours_ids, ours_refs) if maker is not None else None
            if line is None:
                line = self._slow(log, start, final)
                if line is None:
                    continue
            lines.append(line)
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
    if waiting:  # the pending AgreementCreated are those of the last few blocks and govtrack's own
        for event in pending.filter(name="AgreementCreated").order_by("block_number", "log_index"):
            agreement = waiting.get(event.args["externalRef"])
            if agreement is not None:
                event_apply(event=event, agreement=agreement)
                applied += 1
    by_id = {a.onchain_id: a for a in ours.exclude(onchain_id=None)}
    if by_id:
        mine = pending.filter(agreement_onchain_id__in=list(by_id)).exclude(name="AgreementCreated")
        for event in mine.order_by("block_number", "log_index"):
            event_apply(event=event, agreement=by_id[event.agreement_onchain_id])
            applied += 1
    # Events of agreements govtrack did not create (or of pause/ownership): stored, nothing to do.
    return applied + pending.update(applied=True)


# Threads fetching the pages of a run: the one to store next and up to FETCHERS - 1 ahead of it
# (settings.ESCROW_LOG_PAGES_AHEAD).
FETCHERS = 4
_FETCHERS = ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="escrow-logs")


@dataclass
class Page:
    start: int
    end: int
    logs: object  # a Future of the page's logs


class Ahead:
    """The next pages' eth_getLogs calls, in flight while the current page is decoded and stored: the ranges the
    page size would take if every page succeeds (each double the one before, up to ESCROW_LOG_PAGE_MAX_BLOCKS).
    When a page's call fails, the pages planned after it are dropped, that page is fetched again the usual way
    (halving its range on the node's complaints), and the plan goes on from there at the size that worked: `grow`
    stays off for the rest of the run, so a provider that caps ranges is asked for a wider one once per run."""

    def __init__(self, rpc: Rpc, cursor: SyncCursor, address: str, head: int, max_pages: int | None):
        self.rpc, self.cursor, self.address, self.head = rpc, cursor, address, head
        self.depth = 1 + max(0, min(settings.ESCROW_LOG_PAGES_AHEAD, FETCHERS - 1))
        self.budget = max_pages  # pages that may still be planned (None: no limit)
        self.pages: deque[Page] = deque()
        self.next_start, self.next_size = cursor.last_block + 1, cursor.page_size
        self.grow = True

    def _fill(self) -> None:
        while len(self.pages) < self.depth and self.next_start <= self.head and self.budget != 0:
            start, end = self.next_start, min(self.head, self.next_start + self.next_size - 1)
            # web3's provider keeps a session per thread: each fetcher reuses its own connection to the node.
            self.pages.append(Page(start, end, _FETCHERS.submit(self.rpc.logs, self.address, start, end)))
            self.next_start, self.next_size = end + 1, self.grown(self.next_size)
            self.budget = None if self.budget is None else self.budget - 1

    def start(self) -> None:
        """Sets the first pages fetching."""
        self._fill()

    def take(self) -> tuple[int, int, list]:
        """The next page (start, end, logs), and the ones after it set fetching."""
        self._fill()
        page = self.pages.popleft()
        try:
            logs = page.logs.result()
        except (RpcError, ChainUnavailable):
            self.drop()
            self.grow = False
            start, end, logs = _fetch(self.rpc, self.cursor, self.address, self.head)
            self.next_start, self.next_size = end + 1, self.cursor.page_size
            page = Page(start, end, None)
        self._fill()
        return page.start, page.end, logs

    def grown(self, size: int) -> int:
        """The size of the page after one of `size` blocks."""
        return min(settings.ESCROW_LOG_PAGE_MAX_BLOCKS, size * 2) if self.grow else size

    def drop(self) -> None:
        """Forgets the planned pages (a call already running ends on its own; its answer is not used)."""
        for page in self.pages:
            page.logs.cancel()
        if self.budget is not None:
            self.budget += len(self.pages)
        self.pages.clear()


def escrow_index(*, rpc: Rpc | None = None, max_pages: int | None = None) -> dict:
    """The indexer task's work: catch up to the head (or `max_pages` pages), then apply what is deep enough."""
    rpc = rpc or Rpc()
    chain.require_chain(rpc)
    address = escrow_address()
    cursor = _cursor(address)
    counts = {"stored": 0, "pages": 0, "removed": 0, "applied": 0}
    head = rpc.block_number()
    # The first pages are on their way while the cursor is locked and checked for a fork; if either moved it, they
    # are dropped and planned again from where it is.
    ahead = Ahead(rpc, cursor, address, head, max_pages)
    ahead.start()
    try:
        ours = Ours.load(address)
        with transaction.atomic():
            locked = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
            if locked is None:
                return {"busy": True}
            counts["removed"] = _check_fork(rpc, locked, address)
        if (locked.last_block, locked.page_size) != (cursor.last_block, cursor.page_size):
            ahead.drop()
            ahead = Ahead(rpc, locked, address, head, max_pages)
        cursor = ahead.cursor = locked
        while cursor.last_block < head and (max_pages is None or counts["pages"] < max_pages):
            _start, end, logs = ahead.take()  # the following pages are fetched while this one is stored
            end_hash = _end_hash(rpc, logs, end)
            with transaction.atomic():
                locked = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
                if locked is None or locked.last_block != cursor.last_block:
                    return {**counts, "busy": True}  # another indexer moved it: it carries on
                last_final = head - settings.ESCROW_CONFIRMATIONS + 1
                counts["stored"] += _store(rpc, logs, address, ours, last_final)
                cursor.last_block, cursor.last_block_hash = end, end_hash
                cursor.page_size = ahead.grown(cursor.page_size)
                cursor.last_error, cursor.last_synced_at = "", timezone.now()
                cursor.save()
            counts["pages"] += 1
        ahead.drop()
        counts["applied"] = _apply_confirmed(rpc, cursor, address, head)
    except (RpcError, ChainUnavailable) as exc:
        SyncCursor.objects.filter(pk=cursor.pk).update(last_error=str(exc)[:2000], page_size=cursor.page_size)
        raise
    finally:
        ahead.drop()
    return counts
