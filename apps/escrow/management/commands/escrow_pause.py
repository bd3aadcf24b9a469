"""Pause or unpause the escrow contract: prints the owner's transaction; on the local chain, can send it.

The owner is a separate address (a Safe in production), never govtrack's signing key, so govtrack cannot send this
itself: it prints what the owner signs (to, data, value) for the Safe's transaction builder. On the local chain
(31337) `--send` signs it with the dev owner key (ESCROW_DEV_OWNER_KEY, or anvil's account of apps/escrow/owner.py).
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from eth_account import Account

from apps.core.errors import ApplicationError
from apps.escrow import chain
from apps.escrow.chain import ChainError, Rpc, require_chain
from apps.escrow.owner import local_dev_owner_key
from apps.escrow.services.outbox import escrow_deployment
from apps.escrow.services.sender import contract_paused, market_fees


def _owner(rpc: Rpc, address: str) -> str:
    answer = rpc.eth_call({"to": address, "data": chain.encode_call("MilestoneEscrow", "owner", [])})
    return chain.checksummed("0x" + answer[-40:])


class Command(BaseCommand):
    help = "Prints the owner's pause (or --unpause) transaction for the escrow contract; --send on a local chain."

    def add_arguments(self, parser):
        parser.add_argument("--unpause", action="store_true", help="Lift the pause instead.")
        parser.add_argument("--address", default="", help="The contract (default: the configured or deployed one).")
        parser.add_argument("--send", action="store_true", help="Local chain only: sign with the dev owner key.")
        parser.add_argument("--timeout", type=float, default=30, help="Seconds to wait for the receipt (--send).")

    def handle(self, *args, **options):
        if not settings.ETH_RPC_URL:
            raise CommandError("ETH_RPC_URL is not set: no chain.")
        try:
            rpc = Rpc()
            require_chain(rpc)
            recorded = escrow_deployment()
            address = options["address"] or settings.ESCROW_ADDRESS or (recorded.contract_address if recorded else "")
            if not address:
                raise CommandError("No escrow contract: set ESCROW_ADDRESS or pass --address.")
            address = chain.checksummed(address)
            function = "unpause" if options["unpause"] else "pause"
            data = chain.encode_call("MilestoneEscrow", function, [])
            owner, paused = _owner(rpc, address), contract_paused(rpc, address)
            state = "paused" if paused else "running"
            self.stdout.write(f"contract {address} (chain {settings.ETH_CHAIN_ID}): {state}")
            self.stdout.write(f"owner    {owner}")
            self.stdout.write(f"{function}() for the owner to sign:\n  to    {address}\n  value 0\n  data  {data}")
            if paused == (function == "pause"):
                self.stdout.write(self.style.WARNING(f"The contract is already {'paused' if paused else 'running'}."))
                return
            if options["send"]:
                self._send(rpc, address, owner, data, function, options["timeout"])
        except (ChainError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc

    def _send(self, rpc: Rpc, address: str, owner: str, data: str, function: str, timeout: float) -> None:
        key = local_dev_owner_key()
        if key is None:
            raise CommandError("--send needs the local chain (31337) and a dev owner key (ESCROW_DEV_OWNER_KEY).")
        account = Account.from_key(key)
        if account.address != owner:
            raise CommandError(f"The dev owner key is {account.address}, but the contract's owner is {owner}.")
        call = {"from": owner, "to": address, "data": data}
        max_fee, tip = market_fees(rpc)
        fields = {
            "type": 2,
            "chainId": settings.ETH_CHAIN_ID,
            "nonce": rpc.nonce(owner),
            "to": address,
            "value": 0,
            "data": data,
            "gas": rpc.estimate_gas(call) * 6 // 5 + 10_000,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        tx_hash = rpc.send_raw("0x" + account.sign_transaction(fields).raw_transaction.hex())
        deadline = time.monotonic() + timeout
        while (receipt := rpc.receipt(tx_hash)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if receipt is None or int(receipt["status"], 16) != 1:
            raise CommandError(f"{function}() {tx_hash} was not mined successfully in {timeout:.0f}s.")
        self.stdout.write(self.style.SUCCESS(f"{function}() sent by the owner: {tx_hash}"))
