"""The indexer: reads the escrow contracts' events from the chain and lets them decide what happened.

- Contracts: every one `outbox.escrow_contracts` names (each MilestoneEscrow govtrack deployed, ESCROW_ADDRESS, and
  any contract one of its agreements is on), each with its own SyncCursor, one after the other.
- Pages of eth_getLogs from the cursor, one after the other; the page (in blocks) halves when the node complains
  about the range or the size of the answer (or times out), and doubles after each success, up to
  ESCROW_LOG_PAGE_MAX_BLOCKS, except in a run that was refused (it keeps the size that worked; the next run tries a
  wider page again).
- Each log is decoded by `chain.decode_log` (eth_abi and the committed ABI) and stored once (unique on chain id,
  block hash, log index); on PostgreSQL with COPY.
- Forks: when the block at the cursor no longer has the stored hash, the indexer walks back over the blocks of
  its stored events to the newest one still canonical, removes (and undoes) every event above it, and rewinds.
- Effects are applied in chain order once an event's block is ESCROW_CONFIRMATIONS deep, each exactly once. An
  AgreementCreated binds an agreement only when it is in the receipt of govtrack's own create transaction and
  says what the agreement says (services/binding.py); any other with one of govtrack's external refs is a conflict
  shown on that agreement.
"""

import datetime as dt
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.escrow import chain
from apps.escrow.chain import ChainUnavailable, Rpc, RpcError
from apps.escrow.models import ChainEvent, EscrowAgreement, SyncCursor
from apps.escrow.services.binding import agreement_created_apply
from apps.escrow.services.effects import CONTRACT_EVENTS, contract_event_apply, event_apply, event_remove
from apps.escrow.services.outbox import escrow_contracts

logger = logging.getLogger(__name__)

RANGE_ERRORS = ("range", "limit", "too many", "exceed", "size", "too large", "response", "results")


def _cursor(address: str, start_block: int) -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(
        chain_id=settings.ETH_CHAIN_ID,
        contract_address=address,
        defaults={"last_block": start_block - 1, "page_size": settings.ESCROW_LOG_PAGE_BLOCKS},
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
    logger.warning(
        "escrow index of %s rewound to block %s after a fork (%s events removed)", address, to_block, removed
    )
    return removed


def _check_fork(rpc: Rpc, cursor: SyncCursor, address: str, start_block: int) -> int:
    if cursor.last_block < 0 or not cursor.last_block_hash:
        return 0
    if rpc.block_hash(cursor.last_block) == cursor.last_block_hash:
        return 0
    # A fork deeper than the watch window is not looked for: the walk back stops at its floor.
    floor = max(start_block - 1, cursor.last_block - settings.ESCROW_REORG_WATCH_BLOCKS)
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


def _fetch(rpc: Rpc, cursor: SyncCursor, address: str, head: int) -> tuple[int, list, bool]:
    """One page of logs from the cursor: (its last block, its logs, whether the node refused a wider page first).
    Halves the page on range/size complaints and timeouts until one block is too much."""
    refused = False
    while True:
        start = cursor.last_block + 1
        end = min(head, start + cursor.page_size - 1)
        try:
            return end, rpc.logs(address, start, end), refused
        except (RpcError, ChainUnavailable) as exc:
            text = str(exc).lower()
            rangey = isinstance(exc, RpcError) and any(word in text for word in RANGE_ERRORS)
            if (rangey or "did not answer" in text) and cursor.page_size > 1:
                cursor.page_size = max(1, cursor.page_size // 2)
                refused = True
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


# Column order of the rows _rows builds (ChainEvent's fields, its bigint key left to the database).
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
ARGS_AT = EVENT_COLUMNS.index("args")
BLOCK_HASH_AT = EVENT_COLUMNS.index("block_hash")


@dataclass
class Ours:
    """govtrack's agreements on this contract: the on-chain ids of those bound, and every external ref."""

    ids: set
    refs: set

    @classmethod
    def load(cls, address: str) -> "Ours":
        rows = EscrowAgreement.objects.filter(chain_id=settings.ETH_CHAIN_ID, contract_address=address)
        ids, refs = set(), set()
        for onchain_id, ref in rows.values_list("onchain_id", "external_ref"):
            refs.add(ref)
            if onchain_id is not None:
                ids.add(onchain_id)
        return cls(ids, refs)


def _rows(rpc: Rpc, logs: list, address: str, ours: Ours, last_final: int) -> list[tuple]:
    """One row per log of the contract, in EVENT_COLUMNS order. A log deep enough that concerns none of govtrack's
    agreements (nor the contract's pause switch) has nothing to apply: it is stored as applied, so applying touches
    only what may be govtrack's. An AgreementCreated with one of govtrack's refs (its own, or one copying it) is left
    for the apply step to judge, with the events of that agreement id after it."""
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
        settled = block_number <= last_final and agreement_id not in ours.ids and name not in CONTRACT_EVENTS
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


def _copy(cursor, table: str, rows: list[tuple]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row[:ARGS_AT], json.dumps(row[ARGS_AT]), *row[ARGS_AT + 1 : -1], "{}"))


def _insert_postgresql(rows: list[tuple]) -> None:
    """COPY straight into the table; when some logs are there already (a re-read), COPY into a session-local table
    and INSERT ... ON CONFLICT DO NOTHING: each log is stored once either way. The page's transaction commits
    without waiting for the WAL flush: a page lost in a crash is lost with the cursor that points past it, and read
    again."""
    import psycopg

    table = ChainEvent._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
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
    applied, waiting = 0, set()
    ours = EscrowAgreement.objects.filter(chain_id=settings.ETH_CHAIN_ID, contract_address=address)
    by_ref = {agreement.external_ref: agreement for agreement in ours}
    if by_ref:  # bound from govtrack's own receipt, or a conflict on the agreement whose ref it copies
        for event in pending.filter(name="AgreementCreated").order_by("block_number", "log_index"):
            agreement = by_ref.get(event.args["externalRef"])
            if agreement is None:
                continue
            if agreement_created_apply(rpc=rpc, event=event, agreement=agreement):
                applied += 1
            else:  # its receipt is not at this block (yet): the agreement's events wait with it
                waiting.add(event.agreement_onchain_id)
    by_id = {a.onchain_id: a for a in ours.exclude(onchain_id=None)}
    if by_id:
        mine = pending.filter(agreement_onchain_id__in=list(by_id)).exclude(name="AgreementCreated")
        for event in mine.order_by("block_number", "log_index"):
            event_apply(event=event, agreement=by_id[event.agreement_onchain_id])
            applied += 1
    # The owner's pause switch: recorded on the contract (the sender holds attestations while it is on).
    for event in pending.filter(name__in=CONTRACT_EVENTS).order_by("block_number", "log_index"):
        contract_event_apply(event=event)
        applied += 1
    # Events of agreements govtrack did not create (or of ownership): stored, nothing to do.
    return applied + pending.exclude(agreement_onchain_id__in=waiting).update(applied=True)


def _index_contract(rpc: Rpc, address: str, start_block: int, head: int, max_pages: int | None) -> dict:
    cursor = _cursor(address, start_block)
    counts = {"stored": 0, "pages": 0, "removed": 0, "applied": 0}
    try:
        ours = Ours.load(address)
        with transaction.atomic():
            locked = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
            if locked is None:
                return {"busy": True}
            counts["removed"] = _check_fork(rpc, locked, address, start_block)
        cursor = locked
        grow = True  # off for the rest of the run once the node refused a page
        while cursor.last_block < head and (max_pages is None or counts["pages"] < max_pages):
            end, logs, refused = _fetch(rpc, cursor, address, head)
            grow = grow and not refused
            end_hash = _end_hash(rpc, logs, end)
            with transaction.atomic():
                locked = SyncCursor.objects.select_for_update(skip_locked=True).filter(pk=cursor.pk).first()
                if locked is None or locked.last_block != cursor.last_block:
                    return {**counts, "busy": True}  # another indexer moved it: it carries on
                last_final = head - settings.ESCROW_CONFIRMATIONS + 1
                counts["stored"] += _store(rpc, logs, address, ours, last_final)
                cursor.last_block, cursor.last_block_hash = end, end_hash
                if grow:
                    cursor.page_size = min(settings.ESCROW_LOG_PAGE_MAX_BLOCKS, cursor.page_size * 2)
                cursor.last_error, cursor.last_synced_at = "", timezone.now()
                cursor.save()
            counts["pages"] += 1
        counts["applied"] = _apply_confirmed(rpc, cursor, address, head)
    except (RpcError, ChainUnavailable) as exc:
        SyncCursor.objects.filter(pk=cursor.pk).update(last_error=str(exc)[:2000], page_size=cursor.page_size)
        raise
    return counts


def escrow_index(*, rpc: Rpc | None = None, max_pages: int | None = None) -> dict:
    """The indexer task's work: each contract caught up to the head (or `max_pages` pages), then what is deep enough
    applied. The counts are summed over the contracts; `busy`: another indexer holds one of the cursors."""
    rpc = rpc or Rpc()
    chain.require_chain(rpc)
    contracts = escrow_contracts()
    if not contracts:
        raise Conflict("No escrow contract: set ESCROW_ADDRESS, or run `manage.py escrow_deploy` on a local chain.")
    head = rpc.block_number()
    totals = {}
    for address, start_block in contracts.items():
        for key, value in _index_contract(rpc, address, start_block, head, max_pages).items():
            totals[key] = True if key == "busy" else totals.get(key, 0) + value
    return totals
