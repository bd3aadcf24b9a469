"""The block watcher: one escrow sync as soon as the chain has a new block, instead of at the next beat tick.

`manage.py escrow_watch` runs it as a process of its own (docs/operations.md). It asks the node for
`eth_blockNumber` every ESCROW_WATCH_SECONDS; when the head moved it runs the same round as beat's escrow-sync
(send what is due, follow receipts, index events), so a mined attestation is confirmed and its MilestoneApproved
applied within about a second. Beat's escrow-sync stays the safety net: both may run at once (rows and cursors are
locked with skip_locked), and a watcher that is down only makes payouts wait for the tick.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from apps.core.errors import Conflict
from apps.escrow.chain import ChainError, Rpc

logger = logging.getLogger(__name__)


def escrow_sync_round(*, rpc: Rpc | None = None) -> dict:
    """One round of the escrow services: send what is due, follow what was sent, index the contracts. A step the
    node or a missing contract stops is reported in the result (the next round tries again); the others still run."""
    from apps.escrow.services import confirmer, indexer, sender

    result = {}
    for name, step in (
        ("sent", sender.escrow_send_due),
        ("confirmed", confirmer.escrow_confirm),
        ("indexed", indexer.escrow_index),
    ):
        try:
            result[name] = step() if rpc is None else step(rpc=rpc)
        except (ChainError, Conflict) as exc:
            logger.warning("escrow %s: %s", name, exc)
            result[name] = {"error": str(exc)}
    return result


def escrow_watch(*, stop: threading.Event, every: float | None = None, on_round=None) -> int:
    """Until `stop` is set: polls the head every `every` seconds (ESCROW_WATCH_SECONDS) and runs one sync round
    per new head. Returns how many rounds ran. `on_round(head, result)` is called after each (for the command's
    log). An unreachable node is logged and asked again on the next poll."""
    every = settings.ESCROW_WATCH_SECONDS if every is None else every
    rpc = Rpc()
    seen, rounds = None, 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            head = rpc.block_number()
        except ChainError as exc:
            logger.warning("escrow watch: %s", exc)
            head = None
        if head is not None and head != seen:
            close_old_connections()  # a long-lived process: drop connections the database closed meanwhile
            result = escrow_sync_round(rpc=rpc)
            seen, rounds = head, rounds + 1
            if on_round is not None:
                on_round(head, result)
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    close_old_connections()
    return rounds
