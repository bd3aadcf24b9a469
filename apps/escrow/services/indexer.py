"""The indexer: reads the escrow contract's events from the chain and lets them decide what happened.

- Pages of eth_getLogs from the cursor; the page (in blocks) halves when the node complains about the range or
  the size of the answer (or times out), and doubles again after each success, up to ESCROW_LOG_PAGE_MAX_BLOCKS.
- Each log is stored once (unique on chain id, block hash, log index), decoded with the committed ABI.
- Forks: when the block at the cursor no longer has the stored hash, the indexer walks back over the blocks of
  its stored events to the newest one still canonical, removes (and undoes) every event above it, and rewinds.
- Effects are applied in chain order once an event's block is ESCROW_CONFIRMATIONS deep, each exactly once.
"""

import datetime as dt
import json
import logging
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
    stored = (
        _events(address)
        .filter(removed=False, block_number__lte=cursor.last_block)
        .values_list("block_number", "block_hash")
        .distinct()
        .order_by("-block_number")
    )
    for number, block_hash in stored.iterator():
        if rpc.block_hash(number) == block_hash:
            return _rewind(cursor, number, block_hash, address)
    floor = max(escrow_start_block() - 1, cursor.last_block - settings.ESCROW_REORG_WATCH_BLOCKS)
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
ARGS_AT, APPLIED_AT, BLOCK_HASH_AT = EVENT_COLUMNS.index("args"), EVENT_COLUMNS.index("applied"), 3


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


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, dict):
        value = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, dt.datetime):
        value = value.isoformat()
    else:
        return str(value)
    # COPY's text format: backslash is the escape character (JSON strings escape control characters already).
    return value.replace("\\", "\\\\")


def _copy(cursor, table: str, rows: list[tuple]) -> None:
    """COPY in text format, written as one block: per-row calls cost more than the database's own work."""
    text = "".join("\t".join(map(_copy_field, row)) + "\n" for row in rows)
    with cursor.cursor.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        copy.write(text.encode())


def _insert_postgresql(rows: list[tuple]) -> None:
    """COPY straight into the table; when some logs are there already (a re-read), COPY into a session-local
    table and INSERT ... ON CONFLICT DO NOTHING: each log is stored once either way."""
    import psycopg

    table = ChainEvent._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy(cursor, table, rows)
        return
    except (IntegrityError, psycopg.IntegrityError):  # COPY runs on the driver's cursor: psycopg's own error
        pass
    columns = ", ".join(EVENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_in AS SELECT {columns} FROM {table} WITH NO DATA")  # noqa: S608
        _copy(cursor, f"{table}_in", rows)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_in ON CONFLICT DO NOTHING")  # noqa: S608 - names from the model, no input
        cursor.execute(f"TRUNCATE {table}_in")


def _store(rpc: Rpc, logs: list, address: str, ours: Ours, last_final: int) -> int:
    rows = _rows(rpc, logs, address, ours, last_final)
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        _insert_postgresql(rows)
    else:
        ChainEvent.objects.bulk_create(
            [ChainEvent(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in rows], ignore_conflicts=True
        )
    # A block that left the chain and came back (same hash): its events count again.
    block_hashes = {row[BLOCK_HASH_AT] for row in rows}
    _events(address).filter(removed=True, block_hash__in=block_hashes).update(removed=False, applied=False)
    return len(rows)


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
        while cursor.last_block < head and (max_pages is None or counts["pages"] < max_pages):
            _start, end, logs = _fetch(rpc, cursor, address, head)
            end_hash = rpc.block_hash(end)
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
