"""The escrow contract's owner: the address that may pause and unpause it, given when the contract is deployed.

It is never govtrack's signing key: a compromised hot key must not be able to stop (or un-stop) the contract. In
production it is a Safe (ESCROW_OWNER_ADDRESS); on the local chain of `make run` it is anvil's third default
account, whose key (public, printed by anvil) lets `manage.py escrow_pause --send` act as the owner there.
"""

import os

from django.conf import settings
from eth_account import Account
from eth_utils import is_address, to_checksum_address

from apps.core.errors import Conflict
from apps.escrow.signer import signer_address

# anvil's third default account (index 2); the second is the demo's beneficiary.
LOCAL_CHAIN_OWNER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


def local_dev_owner_key() -> str | None:
    """The owner key `escrow_pause --send` may use: ESCROW_DEV_OWNER_KEY, or anvil's on the local dev chain; never
    anything on another chain."""
    if settings.ETH_CHAIN_ID != 31337:
        return None
    key = os.environ.get("ESCROW_DEV_OWNER_KEY", "").strip()
    if not key and settings.ESCROW_ALLOW_LOCAL_DEV_KEY:
        key = LOCAL_CHAIN_OWNER_KEY
    return key or None


def escrow_owner_address(*, owner: str = "", allow_signer_owner: bool = False) -> str:
    """The owner a new escrow contract is deployed with: `owner`, else ESCROW_OWNER_ADDRESS, else (local dev chain
    only) the dev owner key's address. The signing key is refused unless `allow_signer_owner` on the local chain."""
    owner = owner or settings.ESCROW_OWNER_ADDRESS
    if not owner:
        key = local_dev_owner_key()
        if key is None:
            raise Conflict(
                "No escrow owner: set ESCROW_OWNER_ADDRESS to the address (a Safe) that may pause the contract."
            )
        owner = Account.from_key(key).address
    if not is_address(owner):
        raise Conflict(f"The escrow owner {owner!r} is not an address.")
    owner = to_checksum_address(owner)
    if owner == signer_address() and not (allow_signer_owner and settings.ETH_CHAIN_ID == 31337):
        raise Conflict(
            f"Refused: the escrow owner {owner} is govtrack's signing key. The owner (pause) must be a separate "
            "address, e.g. a Safe; only a local chain (31337) may allow it explicitly (--allow-signer-owner)."
        )
    return owner
