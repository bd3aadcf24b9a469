"""Accepts an ERC-20 stablecoin for escrow (an operator's step; the admin shows tokens but does not add them)."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.escrow.services.agreements import escrow_token_register


class Command(BaseCommand):
    help = "Registers an ERC-20 token for escrow: its address, symbol, decimals and the ISO-4217 currency it carries."

    def add_arguments(self, parser):
        parser.add_argument("--address", required=True)
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--decimals", required=True, type=int)
        parser.add_argument("--currency", required=True, help="ISO-4217 code one token stands for, e.g. USD.")
        parser.add_argument("--name", default="")
        parser.add_argument("--chain-id", type=int, default=None, help="Defaults to ETH_CHAIN_ID.")

    def handle(self, *args, **options):
        try:
            token = escrow_token_register(
                address=options["address"],
                symbol=options["symbol"],
                decimals=options["decimals"],
                currency=options["currency"],
                name=options["name"],
                chain_id=options["chain_id"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        line = f"{token.symbol} ({token.currency}, {token.decimals} decimals) on chain {token.chain_id}"
        self.stdout.write(self.style.SUCCESS(f"{line}: {token.address}"))
