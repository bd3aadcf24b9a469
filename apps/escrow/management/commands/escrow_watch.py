"""The block watcher as its own process: one escrow sync per new block (apps/escrow/services/watcher.py)."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.escrow.chain import ChainError
from apps.escrow.services.watcher import escrow_watch


class Command(BaseCommand):
    help = (
        "Polls eth_blockNumber every ESCROW_WATCH_SECONDS and, on each new block, sends what is due, follows "
        "receipts and indexes the escrow contracts; stops on SIGTERM or SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=None, help="Seconds between polls of the head.")

    def handle(self, *args, **options):
        if not settings.ETH_RPC_URL:
            raise CommandError("ETH_RPC_URL is not set: no chain to watch.")
        every = options["every"] if options["every"] is not None else settings.ESCROW_WATCH_SECONDS
        if every <= 0:
            raise CommandError("--every must be a positive number of seconds.")
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        verbose = options["verbosity"] > 1

        def on_round(head: int, result: dict) -> None:
            if verbose:
                self.stdout.write(f"block {head}: {result}")

        self.stdout.write(f"watching {settings.ETH_RPC_URL} (chain {settings.ETH_CHAIN_ID}) every {every} s")
        try:
            rounds = escrow_watch(stop=stop, every=every, on_round=on_round)
        except ChainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"stopped after {rounds} rounds")
