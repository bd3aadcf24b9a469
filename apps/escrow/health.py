"""The /readyz check of the chain node (registered when ETH_RPC_URL is set)."""

from django.conf import settings

from apps.escrow.chain import Rpc, require_chain


def chain_ready() -> str:
    rpc = Rpc(timeout=settings.READYZ_TIMEOUT_SECONDS)
    chain_id = require_chain(rpc)
    return f"chain {chain_id} at block {rpc.block_number()}"
