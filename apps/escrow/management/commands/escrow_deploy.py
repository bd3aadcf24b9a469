"""Deploys MilestoneEscrow on the configured chain once (the local chain of `make run`); idempotent."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.escrow.chain import ChainError, Rpc, require_chain
from apps.escrow.services.deployment import escrow_contract_deploy


class Command(BaseCommand):
    help = "Deploys the escrow contract through the outbox and records it; does nothing if its code is on chain."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60, help="Seconds to wait for the deployment.")
        parser.add_argument(
            "--owner", default="", help="The contract's owner (pause/unpause); default ESCROW_OWNER_ADDRESS."
        )
        parser.add_argument(
            "--allow-signer-owner",
            action="store_true",
            help="Local chain only: let govtrack's signing key be the owner (refused otherwise).",
        )

    def handle(self, *args, **options):
        if not settings.ETH_RPC_URL:
            raise CommandError("ETH_RPC_URL is not set: no chain to deploy to.")
        try:
            rpc = Rpc()
            require_chain(rpc)
            address, deployed = escrow_contract_deploy(
                rpc=rpc,
                timeout=options["timeout"],
                owner=options["owner"],
                allow_signer_owner=options["allow_signer_owner"],
            )
        except (ChainError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "deployed at" if deployed else "already deployed at"
        self.stdout.write(self.style.SUCCESS(f"MilestoneEscrow {verb} {address} (chain {settings.ETH_CHAIN_ID})"))
